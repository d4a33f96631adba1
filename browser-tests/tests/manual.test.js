// The manual in a real browser: Japanese and English, desktop and phone.
const { test } = require('node:test');
const { launch, Steps, WORDS, PHONE, DESKTOP } = require('../lib/browser');
const { startServer } = require('../lib/server');
const { followManual } = require('../lib/manual');

for (const lang of ['ja', 'en']) {
  for (const [device, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    test(`the manual, ${lang}, ${device}`, async () => {
      const server = await startServer();
      const browser = await launch();
      try {
        // bypassCSP lets the test inject axe-core; nidan's pages run no script of their own.
        const context = await browser.newContext({ viewport, locale: 'ja-JP', bypassCSP: true });
        const page = await context.newPage();
        const steps = new Steps(page, `${lang}-${device}`, { phone: device === 'phone' });
        await followManual(page, server, WORDS[lang], steps, { lang });
        steps.writeAxeSummary();
      } finally {
        await browser.close();
        await server.stop();
      }
    });
  }
}
