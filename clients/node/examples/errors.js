// @ts-check
// What errorDetails() gives for the failures a caller meets, one JSON object a
// line: requests this client refuses to send (an enum name typo, a camelCase
// field, an int64 Number past 2^53), bad input the servers refuse, a wrong key;
// and with IMAGING_LIMITED_API_KEY, a key allowed 1 call a minute and 1 image a
// month: a used-up quota (QuotaFailure, no RetryInfo), then the rate limit (RetryInfo).
//
//   IMAGING_ADDRESS=127.0.0.1:50050 IMAGING_API_KEY=img_... node examples/errors.js
'use strict';

const { connect, errorDetails, unary } = require('..');

const address = process.env.IMAGING_ADDRESS || '127.0.0.1:50050';
const apiKey = process.env.IMAGING_API_KEY || '';
const limitedKey = process.env.IMAGING_LIMITED_API_KEY || '';

const PNG_1X1_RED = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';

/** Runs a failing call; prints its error details, or says that it did not fail. */
async function report(/** @type {string} */ name, /** @type {() => Promise<unknown>} */ call) {
  try {
    await call();
    console.log(JSON.stringify({ case: name, failed: false }));
  } catch (error) {
    console.log(JSON.stringify({ case: name, failed: true, ...errorDetails(error) }));
  }
}

/** Reads a server stream to its end. */
async function drain(/** @type {AsyncIterable<unknown>} */ stream) {
  for await (const _ of stream);
}

async function main() {
  const clients = connect(address, { apiKey, timeoutMs: 30_000 });
  const wrongKey = connect(address, { apiKey: `${apiKey.slice(0, -4)}AAAA`, timeoutMs: 30_000 });
  const image = { data: Buffer.from('not an image'), media_type: '' };
  try {
    // Refused here, never sent: proto-loader would send these with the field dropped or changed.
    await report('enum_typo', () =>
      // @ts-expect-error: TypeScript catches the typo too; plain JavaScript does not
      drain(clients.captioner.StreamCaption({ image, decoding: { strategy: 'DECODING_STRATEGY_BEAM' } })),
    );
    await report('camel_case_field', () =>
      // @ts-expect-error: fields keep their .proto names (max_new_tokens)
      unary(clients.captioner, 'Caption', { images: [image], decoding: { maxNewTokens: 5 } }),
    );
    await report('seed_as_number', () =>
      unary(clients.generator, 'Quote', { spec: { prompt: 'a red circle', variant: 'flux.1-schnell', seed: 2 ** 53 + 1 } }),
    );
    // Refused by the servers, with the field named.
    await report('bad_image', () => unary(clients.captioner, 'Caption', { images: [image] }));
    await report('bad_size', () =>
      drain(clients.generator.StreamGenerate({ spec: { prompt: 'a red circle', variant: 'flux.1-schnell', width_px: 70, height_px: 64 } })),
    );
    // Refused by the gateway.
    await report('wrong_key', () => unary(wrongKey.usage, 'GetUsage', {}));
    if (limitedKey) {
      const limited = connect(address, { apiKey: limitedKey, timeoutMs: 30_000 });
      const red = { data: Buffer.from(PNG_1X1_RED, 'base64') };
      try {
        await report('quota_exceeded', () => unary(limited.captioner, 'Caption', { images: [red, red] }));
        await report('rate_limited', () => unary(limited.usage, 'GetUsage', {}));
      } finally {
        limited.close();
      }
    }
  } finally {
    clients.close();
    wrongKey.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
