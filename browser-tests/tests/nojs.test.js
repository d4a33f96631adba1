// Every flow works with JavaScript switched off.
const { test } = require('node:test');
const { launch, Steps, WORDS, DESKTOP } = require('../lib/browser');
const { startServer } = require('../lib/server');
const { followManual } = require('../lib/manual');

test('the manual with JavaScript disabled', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const context = await browser.newContext({ viewport: DESKTOP, locale: 'ja-JP', javaScriptEnabled: false });
    const page = await context.newPage();
    await followManual(page, server, WORDS.ja, new Steps(page, 'ja-nojs', { axe: false }));
  } finally {
    await browser.close();
    await server.stop();
  }
});
