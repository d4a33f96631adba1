// The manual's steps, one after another, by the words on the screen.
const assert = require('node:assert/strict');
const { codeAt, now, secretFromUri } = require('./otp');
const { decodeQr } = require('./qr');

const PASSWORD = 'correct horse battery';
const EMAIL = 'xxx@co.jp';

async function expectFocusOnCode(page) {
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.name);
  assert.equal(focused, 'code', 'the code field has the focus on load');
}

/// The first start: the administrator's account, on the set-up page; ends on マイページ.
async function createAdmin(page, server, w, steps, { lang } = {}) {
  const q = lang === 'en' ? '?lang=en' : '';
  await page.goto(server.setupUrl + q);
  await steps.check('setup-admin');
  await page.getByLabel(w.email).fill(EMAIL);
  await page.getByLabel(w.passwordHint).fill(PASSWORD);
  await page.getByLabel(w.passwordAgain).fill(PASSWORD);
  await page.getByRole('button', { name: w.create }).click();
  await page.getByRole('heading', { name: w.mypage }).waitFor();
}

/// Create the administrator, turn two-step verification on, sign in with a code,
/// sign in with a backup code, turn it off. Returns what the steps saw.
async function followManual(page, server, w, steps, { lang } = {}) {
  await createAdmin(page, server, w, steps, { lang });

  // マイページ → 2段階認証 → 設定
  await steps.check('mypage-off');
  const section = page.getByRole('region', { name: w.section });
  await section.getByText(w.stateOff, { exact: true }).waitFor();
  await section.getByRole('link', { name: w.setUp, exact: true }).click();
  await steps.check('setup-password');
  await page.getByLabel(w.password, { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: w.send }).click();

  // The QR code, read from the rendered page as a camera would.
  const qr = page.getByRole('img', { name: w.qrAlt });
  await qr.waitFor();
  await steps.check('setup-qr');
  const uri = decodeQr(await qr.screenshot());
  assert.match(uri, /^otpauth:\/\/totp\/nidan:xxx%40co\.jp\?secret=[A-Z2-7]{32}&issuer=nidan&/);
  const secret = secretFromUri(uri);
  await expectFocusOnCode(page);
  assert.equal(await page.getByLabel(w.code).getAttribute('inputmode'), 'numeric');
  await page.getByLabel(w.code).fill(codeAt(secret, now()));
  await page.getByRole('button', { name: w.send }).click();

  // Completion: the backup codes.
  const codes = await page.getByRole('listitem').allInnerTexts();
  assert.equal(codes.length, 10);
  codes.forEach((c) => assert.match(c.trim(), /^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/));
  await steps.check('setup-backup-codes');
  await page.getByRole('link', { name: w.toMypage }).click();
  await page.getByRole('region', { name: w.section }).getByText(w.stateOn, { exact: true }).waitFor();
  await steps.check('mypage-on');
  await page.getByRole('button', { name: w.logout }).click();

  // Sign in with a code (the next step's: the set-up spent this one).
  await page.getByLabel(w.email).waitFor();
  await steps.check('login');
  await page.getByLabel(w.email).fill(EMAIL);
  await page.getByLabel(w.password, { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: w.signIn, exact: true }).click();
  await page.getByLabel(w.code).waitFor();
  await steps.check('login-code');
  await expectFocusOnCode(page);
  await page.getByLabel(w.code).fill(codeAt(secret, now() + 30));
  await page.getByRole('button', { name: w.verify }).click();
  await page.getByRole('link', { name: w.mypage, exact: true }).first().waitFor();
  await steps.check('viewer');
  await page.getByText(EMAIL, { exact: true }).waitFor();
  await page.getByRole('button', { name: w.logout }).click();

  // Sign in with a backup code.
  await page.getByLabel(w.email).fill(EMAIL);
  await page.getByLabel(w.password, { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: w.signIn, exact: true }).click();
  await page.getByRole('link', { name: w.backupLink }).click();
  await steps.check('login-backup');
  await page.getByLabel(w.backupCode).fill(codes[0].trim());
  await page.getByRole('button', { name: w.verify }).click();
  await page.getByRole('status').waitFor();
  await steps.check('mypage-backup-used');
  assert.match(await page.getByRole('status').innerText(), /9/);

  // Turn it off: 解除 → password → 解除.
  await page.getByRole('region', { name: w.section }).getByRole('link', { name: w.off }).click();
  await steps.check('turn-off');
  await page.getByLabel(w.password, { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: w.off }).click();
  await page.getByRole('region', { name: w.section }).getByText(w.stateOff, { exact: true }).waitFor();
  await steps.check('mypage-turned-off');
  return { secret, codes };
}

module.exports = { followManual, createAdmin, PASSWORD, EMAIL };
