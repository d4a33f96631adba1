// Tab, type and Enter only: no clicks.
const assert = require('node:assert/strict');
const { test } = require('node:test');
const { launch, DESKTOP } = require('../lib/browser');
const { startServer } = require('../lib/server');
const { startSmtpSink, mailLink, resetLink } = require('../lib/smtp');
const { codeAt, now, base32Decode } = require('../lib/otp');
const { PASSWORD, EMAIL } = require('../lib/manual');

async function tabTo(page, text) {
  for (let i = 0; i < 30; i += 1) {
    await page.keyboard.press('Tab');
    const label = await page.evaluate(() => document.activeElement && document.activeElement.textContent.trim());
    if (label === text) return;
  }
  throw new Error(`could not reach "${text}" with Tab`);
}

/// A person types once the cursor is in the field: wait until autofocus has put it there.
async function cursorIn(page, name) {
  await page.waitForFunction((n) => document.activeElement && document.activeElement.name === n, name);
}

/// The first start, typed: the administrator's account, ending on マイページ.
async function createAdmin(page, server) {
  const kb = page.keyboard;
  await page.goto(server.setupUrl);
  await cursorIn(page, 'email');
  await kb.type(EMAIL); await kb.press('Tab');
  await kb.type(PASSWORD); await kb.press('Tab');
  await kb.type(PASSWORD); await kb.press('Enter');
  await page.waitForURL('**/mypage');
}

test('turning it on and signing in with the keyboard alone', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const page = await (await browser.newContext({ viewport: DESKTOP, locale: 'ja-JP' })).newPage();
    const kb = page.keyboard;
    await createAdmin(page, server);
    await tabTo(page, '設定'); await kb.press('Enter');
    await page.waitForURL('**/mypage/2fa/setup');
    await cursorIn(page, 'password');
    await kb.type(PASSWORD); await kb.press('Enter');
    await page.locator('#totp-key').waitFor();
    // A person who cannot scan types the key shown under the QR code into the app.
    const secret = base32Decode(await page.locator('#totp-key').innerText());
    await cursorIn(page, 'code');
    await kb.type(codeAt(secret, now())); await kb.press('Enter');
    await page.getByRole('listitem').first().waitFor();
    await tabTo(page, 'ログアウト'); await kb.press('Enter');
    await page.waitForURL('**/login?signed_out=1');
    await cursorIn(page, 'email');
    await kb.type(EMAIL); await kb.press('Tab');
    await kb.type(PASSWORD); await kb.press('Enter');
    await page.waitForURL('**/login/2fa');
    await cursorIn(page, 'code');
    await kb.type(codeAt(secret, now() + 30)); await kb.press('Enter');
    await page.waitForURL((u) => new URL(u).pathname === '/');
    await page.getByText(EMAIL, { exact: true }).waitFor();
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('changing the password with the keyboard alone', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const page = await (await browser.newContext({ viewport: DESKTOP, locale: 'ja-JP' })).newPage();
    const kb = page.keyboard;
    const newPassword = 'violet harbour lantern 42';
    await createAdmin(page, server);
    await tabTo(page, 'パスワードの変更'); await kb.press('Enter');
    await page.waitForURL('**/mypage/password');
    await cursorIn(page, 'current_password');
    await kb.type(PASSWORD); await kb.press('Tab');
    await kb.type(newPassword); await kb.press('Tab');
    await kb.type(newPassword); await kb.press('Enter');
    await page.waitForURL('**/mypage?notice=password_changed');
    await page.getByRole('status').getByText('パスワードを変更しました', { exact: false }).waitFor();
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('a forgotten password, reset with the keyboard alone', async () => {
  const sink = await startSmtpSink();
  const server = await startServer(['--smtp-url', sink.url]);
  const browser = await launch();
  try {
    const page = await (await browser.newContext({ viewport: DESKTOP, locale: 'ja-JP' })).newPage();
    const kb = page.keyboard;
    const newPassword = 'amber meadow compass 77';
    await createAdmin(page, server);
    await tabTo(page, 'ログアウト'); await kb.press('Enter');
    await page.waitForURL('**/login?signed_out=1');
    await tabTo(page, 'パスワードをお忘れの方'); await kb.press('Enter');
    await page.waitForURL('**/login/forgot');
    await cursorIn(page, 'email');
    await kb.type(EMAIL); await kb.press('Enter');
    await page.waitForURL('**/login/forgot?sent=1');
    await page.goto(resetLink(await sink.waitFor(/\/login\/reset\?token=/)));
    await cursorIn(page, 'new_password');
    await kb.type(newPassword); await kb.press('Tab');
    await kb.type(newPassword); await kb.press('Enter');
    await page.waitForURL('**/login?reset=1');
    await cursorIn(page, 'email');
    await kb.type(EMAIL); await kb.press('Tab');
    await kb.type(newPassword); await kb.press('Enter');
    await page.getByText(EMAIL, { exact: true }).waitFor();
  } finally {
    await browser.close();
    await server.stop();
    await sink.stop();
  }
});

test('accepting an invitation with the keyboard alone', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const page = await (await browser.newContext({ viewport: DESKTOP, locale: 'ja-JP' })).newPage();
    const password = 'amber meadow compass 77';
    await createAdmin(page, server);
    const link = server.cli(['user', 'invite', 'hanako@example.jp', '--public-url', server.base]).trim();
    const guest = await (await browser.newContext({ viewport: DESKTOP, locale: 'ja-JP' })).newPage();
    await guest.goto(link);
    await cursorIn(guest, 'password');
    await guest.keyboard.type(password); await guest.keyboard.press('Tab');
    await guest.keyboard.type(password); await guest.keyboard.press('Enter');
    await guest.waitForURL('**/mypage');
    await guest.getByText('hanako@example.jp', { exact: true }).waitFor();
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('changing the email address with the keyboard alone', async () => {
  const sink = await startSmtpSink();
  const server = await startServer(['--smtp-url', sink.url]);
  const browser = await launch();
  try {
    const page = await (await browser.newContext({ viewport: DESKTOP, locale: 'ja-JP' })).newPage();
    const kb = page.keyboard;
    const newEmail = 'taro.new@example.jp';
    await createAdmin(page, server);
    await tabTo(page, 'メールアドレスの変更'); await kb.press('Enter');
    await page.waitForURL('**/mypage/email');
    await cursorIn(page, 'new_email');
    await kb.type(newEmail); await kb.press('Tab');
    await kb.type(PASSWORD); await kb.press('Enter');
    await page.waitForURL('**/mypage/email?sent=1');
    await page.goto(mailLink(await sink.waitFor(/\/email\/confirm\?token=/), '/email/confirm'));
    // The button has the focus: Enter confirms.
    await page.waitForFunction(() => document.activeElement && document.activeElement.tagName === 'BUTTON');
    await kb.press('Enter');
    await page.waitForURL('**/email/confirm?done=1');
    await tabTo(page, 'マイページへ'); await kb.press('Enter');
    await page.getByText(newEmail, { exact: true }).waitFor();
  } finally {
    await browser.close();
    await server.stop();
    await sink.stop();
  }
});
