const assert = require('node:assert/strict');
// Just enough of a mail server for the browser tests: an SMTP sink on 127.0.0.1 that keeps
// every message (nidan sends text/plain in base64) and waits for one that says something.
const net = require('node:net');

function decodeBody(lines) {
  const start = lines.indexOf('');
  return Buffer.from(lines.slice(start + 1).join(''), 'base64').toString('utf8');
}

async function startSmtpSink() {
  const mails = [];
  const server = net.createServer((socket) => {
    socket.setEncoding('utf8');
    socket.write('220 sink\r\n');
    let buffer = '';
    let inData = false;
    let data = [];
    let to = [];
    socket.on('data', (chunk) => {
      buffer += chunk;
      for (let i = buffer.indexOf('\r\n'); i >= 0; i = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            mails.push({ to, body: decodeBody(data) });
            data = [];
            to = [];
            socket.write('250 kept\r\n');
          } else {
            data.push(line);
          }
          continue;
        }
        const upper = line.toUpperCase();
        if (upper.startsWith('RCPT TO:')) {
          to.push(line.slice(8).trim().replace(/^<|>$/g, ''));
          socket.write('250 ok\r\n');
        } else if (upper === 'DATA') {
          inData = true;
          socket.write('354 go on\r\n');
        } else if (upper === 'QUIT') {
          socket.end('221 bye\r\n');
        } else {
          socket.write('250 ok\r\n');
        }
      }
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `smtp://127.0.0.1:${server.address().port}`,
    mails,
    /// The first mail whose body matches `pattern`, waiting up to 10 s for it.
    async waitFor(pattern) {
      for (let i = 0; i < 200; i += 1) {
        const mail = mails.find((m) => pattern.test(m.body));
        if (mail) return mail;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no mail matching ${pattern}: ${JSON.stringify(mails)}`);
    },
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

/// The link to `path` (with its token) in a mail's body.
function mailLink(mail, path) {
  const at = mail.body.indexOf(`${path}?token=`);
  assert.ok(at >= 0, `no link to ${path} in ${mail.body}`);
  const start = mail.body.lastIndexOf('http', at);
  return mail.body.slice(start).split(/\s/)[0];
}

/// The password-reset link in a mail's body.
function resetLink(mail) {
  return mailLink(mail, '/login/reset');
}

module.exports = { startSmtpSink, mailLink, resetLink };
