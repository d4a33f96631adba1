// The account looking after itself: マイページ →「パスワードの変更」, Japanese and English,
// desktop and phone, every step through axe-core.
const assert = require('node:assert/strict');
const { test } = require('node:test');
const { launch, Steps, WORDS, PHONE, DESKTOP } = require('../lib/browser');
const { startServer } = require('../lib/server');
const { createAdmin, PASSWORD, EMAIL } = require('../lib/manual');

const NEW_PASSWORD = 'violet harbour lantern 42';

for (const lang of ['ja', 'en']) {
  for (const [device, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    test(`changing the password, ${lang}, ${device}`, async () => {
      const server = await startServer();
      const browser = await launch();
      try {
        const context = await browser.newContext({ viewport, locale: 'ja-JP', bypassCSP: true });
        const page = await context.newPage();
        const w = WORDS[lang];
        const steps = new Steps(page, `account-${lang}-${device}`, { phone: device === 'phone' });
        await createAdmin(page, server, w, steps, { lang });

        await page.getByRole('link', { name: w.changePassword }).click();
        await page.getByRole('heading', { name: w.changePassword }).waitFor();
        await steps.check('password-change');
        // A wrong current password: said next to the form, the field marked.
        await page.getByLabel(w.currentPassword).fill('not my password!');
        await page.getByLabel(w.newPassword).fill(NEW_PASSWORD);
        await page.getByLabel(w.newPasswordAgain).fill(NEW_PASSWORD);
        await page.getByRole('button', { name: w.change, exact: true }).click();
        await page.getByRole('alert').waitFor();
        assert.equal((await page.getByRole('alert').innerText()).trim(), w.wrongPassword);
        assert.equal(await page.getByLabel(w.currentPassword).getAttribute('aria-invalid'), 'true');
        await steps.check('password-change-wrong');

        await page.getByLabel(w.currentPassword).fill(PASSWORD);
        await page.getByLabel(w.newPassword).fill(NEW_PASSWORD);
        await page.getByLabel(w.newPasswordAgain).fill(NEW_PASSWORD);
        await page.getByRole('button', { name: w.change, exact: true }).click();
        await page.getByRole('status').waitFor();
        assert.match(await page.getByRole('status').innerText(), new RegExp(w.passwordChanged));
        await steps.check('password-changed');

        // Signed out, only the new password opens the viewer.
        await page.getByRole('button', { name: w.logout }).click();
        await page.getByLabel(w.email).fill(EMAIL);
        await page.getByLabel(w.password, { exact: true }).fill(NEW_PASSWORD);
        await page.getByRole('button', { name: w.signIn, exact: true }).click();
        await page.getByText(EMAIL, { exact: true }).waitFor();
        steps.writeAxeSummary();
      } finally {
        await browser.close();
        await server.stop();
      }
    });
  }
}
