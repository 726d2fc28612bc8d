// @ts-check
// Through the gateway with an API key: a health check, a caption streamed token
// by token, and an image generated with per-step progress.
//
//   IMAGING_ADDRESS=127.0.0.1:50050 IMAGING_API_KEY=img_... \
//     node examples/caption_and_generate.js cat.png --prompt "a big red circle on the left" --out out.png
//
// Options: --prompt, --variant (flux.1-schnell), --steps, --seed (a decimal
// string: int64 seeds stay exact), --out (generated.png). IMAGING_TLS=1 for TLS.
'use strict';

const fs = require('node:fs');
const { parseArgs } = require('node:util');
const { connect, durationMs, errorDetails, grpc, requestIdOf, unary } = require('..');

/** Micros (an int64 decimal string) as a decimal amount, exactly. */
function formatMicros(/** @type {string} */ micros) {
  const value = BigInt(micros);
  return `${value / 1000000n}.${(value % 1000000n).toString().padStart(6, '0')}`;
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      prompt: { type: 'string', default: 'a big red circle on the left' },
      variant: { type: 'string', default: 'flux.1-schnell' },
      steps: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string', default: 'generated.png' },
    },
  });
  if (positionals.length !== 1) throw new Error('usage: caption_and_generate.js IMAGE [--prompt P] [--steps N] [--seed S] [--out OUT.png]');
  const apiKey = process.env.IMAGING_API_KEY;
  if (!apiKey) throw new Error('set IMAGING_API_KEY to an API key (make run prints a demo key)');
  const address = process.env.IMAGING_ADDRESS || '127.0.0.1:50050';
  const credentials = process.env.IMAGING_TLS === '1' ? grpc.credentials.createSsl() : undefined;
  const clients = connect(address, { apiKey, credentials, timeoutMs: 120_000 });
  try {
    // grpc.health.v1: the gateway as a whole.
    const { response: health } = await unary(clients.health, 'Check', { service: '' });
    console.log(`health: ${health.status}`);

    // StreamCaption: each token as the captioner decodes it, then the caption.
    const captionStream = clients.captioner.StreamCaption({
      image: { data: fs.readFileSync(positionals[0]) }, // media_type empty: the server sniffs it
      decoding: { strategy: 'DECODING_STRATEGY_GREEDY' },
    });
    const captionRequestId = requestIdOf(captionStream);
    process.stdout.write('caption> ');
    let tokens = 0;
    for await (const event of captionStream) {
      if (event.event === 'token' && event.token) {
        tokens += 1;
        process.stdout.write(event.token.text);
      } else if (event.event === 'caption' && event.caption) {
        process.stdout.write('\n');
        console.log(`final caption: ${event.caption.text}`);
        console.log(`tokens streamed: ${tokens} (${event.caption.finish_reason}), request id ${await captionRequestId}`);
      }
    }

    // StreamGenerate: a progress event per denoising step, then the images.
    /** @type {import('../generated/imaging/generator/v1/GenerationSpec').GenerationSpec} */
    const spec = { prompt: values.prompt, variant: values.variant };
    if (values.steps !== undefined) spec.steps = Number(values.steps);
    if (values.seed !== undefined) spec.seed = values.seed; // a string: exact up to 2^63 - 1
    const generation = clients.generator.StreamGenerate({ spec });
    const generationRequestId = requestIdOf(generation);
    for await (const event of generation) {
      if (event.event === 'progress' && event.progress) {
        const p = event.progress;
        const elapsed = durationMs(p.elapsed_duration) / 1000;
        const left = durationMs(p.estimated_remaining_duration) / 1000;
        console.log(`step ${p.step}/${p.total_steps}: ${elapsed.toFixed(2)} s elapsed, ~${left.toFixed(2)} s left`);
      } else if (event.event === 'result' && event.result) {
        const result = event.result;
        const [first] = result.images;
        if (!first?.image) throw new Error('the result has no image');
        fs.writeFileSync(values.out, first.image.data);
        console.log(`wrote ${values.out}: ${first.width_px}x${first.height_px} px, ${result.steps} steps of ${result.variant}`);
        console.log(`seed: ${result.seed}`);
        const cost = result.usage?.cost;
        console.log(`cost: ${formatMicros(cost?.amount_micros ?? '0')} ${cost?.currency_code ?? ''}`.trimEnd());
        console.log(`request id: ${await generationRequestId}`);
      }
    }
  } finally {
    clients.close();
  }
}

main().catch((error) => {
  const info = errorDetails(error);
  const fields = info.fieldViolations.map((v) => `\n  ${v.field}: ${v.description}`).join('');
  console.error(`error: ${info.codeName} ${info.reason} ${info.message}${fields}${info.requestId ? `\n  request id ${info.requestId}` : ''}`);
  process.exitCode = 1;
});
