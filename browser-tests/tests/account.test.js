// The account looking after itself: マイページ →「パスワードの変更」, then
// 「パスワードをお忘れの方」 with the link read from the mail, 「メールアドレスの変更」 confirmed
// through the link sent to the new address, then an invitation from `nidan user invite`; Japanese and English, desktop and phone, every step through axe-core.
const assert = require('node:assert/strict');
const { test } = require('node:test');
const { launch, Steps, WORDS, PHONE, DESKTOP } = require('../lib/browser');
const { startServer } = require('../lib/server');
const { startSmtpSink, mailLink, resetLink } = require('../lib/smtp');
const { createAdmin, PASSWORD, EMAIL } = require('../lib/manual');

const CHANGED = 'violet harbour lantern 42';
const RESET = 'amber meadow compass 77';
const NEW_EMAIL = 'taro.new@example.jp';

async function signIn(page, w, password) {
  await page.getByLabel(w.email).fill(EMAIL);
  await page.getByLabel(w.password, { exact: true }).fill(password);
  await page.getByRole('button', { name: w.signIn, exact: true }).click();
  await page.getByText(EMAIL, { exact: true }).waitFor();
}

for (const lang of ['ja', 'en']) {
  for (const [device, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    test(`changing and resetting the password, and an invitation, ${lang}, ${device}`, async () => {
      const sink = await startSmtpSink();
      const server = await startServer(['--smtp-url', sink.url]);
      const browser = await launch();
      try {
        const context = await browser.newContext({ viewport, locale: 'ja-JP', bypassCSP: true });
        const page = await context.newPage();
        const w = WORDS[lang];
        const steps = new Steps(page, `account-${lang}-${device}`, { phone: device === 'phone' });
        await createAdmin(page, server, w, steps, { lang });

        // マイページ →「パスワードの変更」
        await page.getByRole('link', { name: w.changePassword }).click();
        await page.getByRole('heading', { name: w.changePassword }).waitFor();
        await steps.check('password-change');
        // A wrong current password: said next to the form, the field marked.
        await page.getByLabel(w.currentPassword).fill('not my password!');
        await page.getByLabel(w.newPassword).fill(CHANGED);
        await page.getByLabel(w.newPasswordAgain).fill(CHANGED);
        await page.getByRole('button', { name: w.change, exact: true }).click();
        await page.getByRole('alert').waitFor();
        assert.equal((await page.getByRole('alert').innerText()).trim(), w.wrongPassword);
        assert.equal(await page.getByLabel(w.currentPassword).getAttribute('aria-invalid'), 'true');
        await steps.check('password-change-wrong');
        await page.getByLabel(w.currentPassword).fill(PASSWORD);
        await page.getByLabel(w.newPassword).fill(CHANGED);
        await page.getByLabel(w.newPasswordAgain).fill(CHANGED);
        await page.getByRole('button', { name: w.change, exact: true }).click();
        await page.getByRole('status').waitFor();
        assert.match(await page.getByRole('status').innerText(), new RegExp(w.passwordChanged));
        await steps.check('password-changed');

        // Signed out, only the new password opens the viewer.
        await page.getByRole('button', { name: w.logout }).click();
        await signIn(page, w, CHANGED);
        await page.getByRole('button', { name: w.logout }).click();

        // 「パスワードをお忘れの方」: the link comes by mail.
        await page.getByRole('link', { name: w.forgot }).click();
        await page.getByRole('heading', { name: w.forgotTitle }).waitFor();
        await steps.check('forgot');
        await page.getByLabel(w.email).fill(EMAIL);
        await page.getByRole('button', { name: w.send }).click();
        await page.getByRole('status').getByText(w.forgotSent).waitFor();
        await steps.check('forgot-sent');
        const link = resetLink(await sink.waitFor(/\/login\/reset\?token=/));
        await page.goto(link);
        await page.getByRole('heading', { name: w.resetTitle }).waitFor();
        assert.ok(!page.url().includes('token='), 'the token leaves the address bar');
        await steps.check('reset');
        await page.getByLabel(w.newPassword).fill(RESET);
        await page.getByLabel(w.newPasswordAgain).fill(RESET);
        await page.getByRole('button', { name: w.save, exact: true }).click();
        await page.getByRole('status').getByText(w.passwordReset).waitFor();
        await steps.check('reset-done');
        await signIn(page, w, RESET);
        // The link works once.
        await page.goto(link);
        await page.getByRole('alert').getByText(w.resetInvalid).waitFor();
        await steps.check('reset-invalid');

        // マイページ →「メールアドレスの変更」: nothing changes until the link sent to the new
        // address is confirmed.
        await page.goto(`${server.base}/mypage`);
        await page.getByRole('link', { name: w.changeEmail }).click();
        await page.getByRole('heading', { name: w.changeEmail }).waitFor();
        await steps.check('email-change');
        await page.getByLabel(w.newEmail).fill(NEW_EMAIL);
        await page.getByLabel(w.currentPassword).fill(RESET);
        await page.getByRole('button', { name: w.sendConfirmation }).click();
        await page.getByRole('status').getByText(w.emailChangeSent).waitFor();
        await steps.check('email-change-sent');
        const confirm = mailLink(await sink.waitFor(/\/email\/confirm\?token=/), '/email/confirm');
        await page.goto(confirm);
        await page.getByRole('heading', { name: w.emailConfirmTitle }).waitFor();
        assert.ok(!page.url().includes('token='), 'the token leaves the address bar');
        assert.equal((await page.locator('#new-email').innerText()).trim(), NEW_EMAIL);
        await steps.check('email-confirm');
        await page.getByRole('button', { name: w.change, exact: true }).click();
        await page.getByRole('status').getByText(w.emailChanged).waitFor();
        await steps.check('email-changed');
        await page.getByRole('link', { name: w.toMypage }).click();
        await page.getByText(NEW_EMAIL, { exact: true }).waitFor();

        // An invitation: someone else's first visit, in a browser of their own.
        const invited = 'hanako@example.jp';
        const invitation = server.cli(['user', 'invite', invited, '--public-url', server.base]).trim();
        const guest = await (await browser.newContext({ viewport, locale: 'ja-JP', bypassCSP: true })).newPage();
        const guestSteps = new Steps(guest, `invited-${lang}-${device}`, { phone: device === 'phone' });
        await guest.goto(`${invitation}${lang === 'en' ? '?lang=en' : ''}`);
        await guest.getByRole('heading', { name: w.invitationTitle }).waitFor();
        assert.equal(await guest.getByLabel(w.email).inputValue(), invited);
        await guestSteps.check('invitation');
        await guest.getByLabel(w.passwordHint).fill(CHANGED);
        await guest.getByLabel(w.passwordAgain).fill(CHANGED);
        await guest.getByRole('button', { name: w.createAccount, exact: true }).click();
        await guest.getByRole('heading', { name: w.mypage }).waitFor();
        await guest.getByText(invited, { exact: true }).waitFor();
        await guestSteps.check('invited-mypage');
        await guest.goto(invitation);
        await guest.getByRole('alert').getByText(w.invitationInvalid).waitFor();
        await guestSteps.check('invitation-used');
        steps.writeAxeSummary();
        guestSteps.writeAxeSummary();
      } finally {
        await browser.close();
        await server.stop();
        await sink.stop();
      }
    });
  }
}
