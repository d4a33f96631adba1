// RFC 6238 codes, as an authenticator app computes them, from the otpauth URI the QR code holds.
const crypto = require('node:crypto');

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

function codeAt(secret, unixSeconds) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = crypto.createHmac('sha1', secret).update(counter).digest();
  const offset = mac[19] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/// The app's secret from an otpauth:// URI, checking the parameters the manual's app needs.
function secretFromUri(uri) {
  const url = new URL(uri);
  if (url.protocol !== 'otpauth:' || url.host !== 'totp') throw new Error(`not a TOTP URI: ${uri}`);
  const p = url.searchParams;
  if (p.get('algorithm') !== 'SHA1' || p.get('digits') !== '6' || p.get('period') !== '30') {
    throw new Error(`unexpected parameters: ${uri}`);
  }
  return base32Decode(p.get('secret'));
}

const now = () => Date.now() / 1000;

module.exports = { base32Decode, codeAt, secretFromUri, now };
