// Starts the real nidan binary on 127.0.0.1:0 with a fresh data directory.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const BIN = process.env.NIDAN_BIN;

/// `flags`: more of `nidan serve`'s, e.g. `['--smtp-url', sink.url]`.
async function startServer(flags = []) {
  if (!BIN) throw new Error('NIDAN_BIN must name the nidan binary (scripts/test sets it)');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nidan-browser-'));
  const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...flags], {
    env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nidan did not start:\n${log}`)), 15000);
    child.stderr.on('data', (chunk) => {
      log += chunk.toString();
      const base = log.match(/url=(http:\/\/127\.0\.0\.1:\d+)/);
      const setup = log.match(/(http:\/\/127\.0\.0\.1:\d+\/setup\/[A-Za-z0-9_-]+)/);
      if (base && setup) {
        clearTimeout(timer);
        resolve({ base: base[1], setupUrl: setup[1] });
      }
    });
    child.on('exit', (code) => reject(new Error(`nidan exited with ${code}:\n${log}`)));
  });
  const { base, setupUrl } = await ready;
  return {
    base,
    setupUrl,
    log: () => log,
    /// A command on this server's data directory (`['user', 'invite', …]`); its output.
    cli: (args) => execFileSync(BIN, [...args, '--data-dir', dataDir], { encoding: 'utf8' }),
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

module.exports = { startServer };
