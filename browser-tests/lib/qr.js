// Reads the QR code from a screenshot, as the phone's camera would.
const { PNG } = require('pngjs');
const jsQR = require('jsqr');

function decodeQr(pngBuffer) {
  const png = PNG.sync.read(pngBuffer);
  const found = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  if (!found) throw new Error('no QR code in the screenshot');
  return found.data;
}

module.exports = { decodeQr };
