// Debian's Chromium through playwright-core (never a downloaded browser), and the
// checks every page must pass: axe-core, and on a phone, layout and tap targets.
const fs = require('node:fs');
const path = require('node:path');
const assert = require('node:assert/strict');
const { chromium } = require('playwright-core');

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
const SHOTS = path.resolve(__dirname, '../../target/screenshots');
const PHONE = { width: 375, height: 667 };
const DESKTOP = { width: 1280, height: 800 };

// Playwright gives every launch a fresh temporary profile (its --user-data-dir).
async function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: FLAGS });
}

/// The words the tests look for: the manual's labels, and their English twins.
const WORDS = {
  ja: {
    create: '作成する', email: 'メールアドレス', password: 'パスワード', passwordHint: /^パスワード \(12/, qrAlt: '2段階認証を設定するためのQRコード',
    passwordAgain: 'パスワード（確認）', signIn: 'ログイン', mypage: 'マイページ', setUp: '設定',
    send: '送信', code: '確認コード', toMypage: 'マイページへ', logout: 'ログアウト', verify: '認証する',
    backupLink: 'バックアップコードを使用してログイン', backupCode: 'バックアップコード', off: '解除',
    stateOn: '有効', stateOff: '無効', section: '2段階認証',
    changePassword: 'パスワードの変更', currentPassword: '現在のパスワード', newPassword: /^新しいパスワード \(12/,
    newPasswordAgain: '新しいパスワード（確認）', change: '変更する', wrongPassword: 'パスワードが正しくありません。',
    passwordChanged: 'パスワードを変更しました。', forgot: 'パスワードをお忘れの方', forgotTitle: 'パスワードの再設定',
    forgotSent: /30分以内/, resetTitle: '新しいパスワードの設定', save: '設定する', passwordReset: /パスワードを再設定しました/,
    resetInvalid: /このリンクは無効です/, invitationTitle: 'アカウントの作成', createAccount: '作成する',
    invitationInvalid: /この招待リンクは無効です/, changeEmail: 'メールアドレスの変更', newEmail: '新しいメールアドレス',
    sendConfirmation: '確認メールを送信', emailChangeSent: /24時間以内/, emailConfirmTitle: 'メールアドレスの変更の確認',
    emailChanged: /メールアドレスを変更しました/, toMypage: 'マイページへ',
  },
  en: {
    create: 'Create', email: 'Email address', password: 'Password', passwordHint: /^Password \(12/, qrAlt: 'QR code for setting up two-step verification',
    passwordAgain: 'Password (again)', signIn: 'Sign in', mypage: 'My Page', setUp: 'Set up',
    send: 'Send', code: 'Verification code', toMypage: 'Go to My Page', logout: 'Sign out', verify: 'Verify',
    backupLink: 'Sign in with a backup code', backupCode: 'Backup code', off: 'Turn off',
    stateOn: 'On', stateOff: 'Off', section: 'Two-step verification',
    changePassword: 'Change password', currentPassword: 'Current password', newPassword: /^New password \(12/,
    newPasswordAgain: 'New password (again)', change: 'Change', wrongPassword: 'The password is not correct.',
    passwordChanged: 'Your password was changed.', forgot: 'Forgot your password?', forgotTitle: 'Reset your password',
    forgotSent: /within 30 minutes/, resetTitle: 'Choose a new password', save: 'Save', passwordReset: /Your new password is set/,
    resetInvalid: /This link is not valid/, invitationTitle: 'Create your account', createAccount: 'Create',
    invitationInvalid: /This invitation is not valid/, changeEmail: 'Change email address', newEmail: 'New email address',
    sendConfirmation: 'Send confirmation', emailChangeSent: /within 24 hours/, emailConfirmTitle: 'Confirm your new email address',
    emailChanged: /Your email address was changed/, toMypage: 'Go to My Page',
  },
};

/// Records each step: screenshot, axe-core (when scripts run), phone checks.
class Steps {
  constructor(page, run, { phone = false, axe = true } = {}) {
    Object.assign(this, { page, run, phone, axe, n: 0, axeResults: [] });
    fs.mkdirSync(SHOTS, { recursive: true });
  }

  async check(name) {
    this.n += 1;
    const file = path.join(SHOTS, `${this.run}-${String(this.n).padStart(2, '0')}-${name}.png`);
    await this.page.screenshot({ path: file, fullPage: true });
    if (this.axe) await this.runAxe(name);
    if (this.phone) await this.phoneChecks(name);
  }

  async runAxe(name) {
    await this.page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
    const result = await this.page.evaluate(() => globalThis.axe.run(document, { resultTypes: ['violations'] }));
    const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    this.axeResults.push({
      page: name,
      violations: result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })),
    });
    assert.deepEqual(bad.map((v) => `${v.id}: ${v.help}`), [], `axe on ${this.run}/${name}`);
  }

  async phoneChecks(name) {
    const layout = await this.page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      small: [...document.querySelectorAll('a, button, input:not([type=hidden])')]
        .map((e) => ({ e, r: e.getBoundingClientRect() }))
        .filter(({ r }) => r.width > 0 && (r.height < 44 || r.width < 44))
        .map(({ e, r }) => `${e.tagName} "${(e.textContent || e.name).trim()}" ${Math.round(r.width)}x${Math.round(r.height)}`),
    }));
    assert.ok(layout.scrollWidth <= layout.innerWidth, `${name}: scrolls sideways (${layout.scrollWidth}px)`);
    assert.deepEqual(layout.small, [], `${name}: tap targets under 44 px`);
  }

  writeAxeSummary() {
    const file = path.join(SHOTS, `axe-${this.run}.json`);
    fs.writeFileSync(file, JSON.stringify(this.axeResults, null, 2));
  }
}

module.exports = { launch, Steps, WORDS, PHONE, DESKTOP, SHOTS };
