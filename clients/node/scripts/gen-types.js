'use strict';
// Regenerates ../generated (TypeScript types of every loaded proto) with
// proto-loader-gen-types, under the same options the client loads with.
//   node scripts/gen-types.js          rewrite generated/
//   node scripts/gen-types.js --check  fail when generated/ differs from the protos

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { LOADER_OPTIONS, PROTO_FILES, includeDirs } = require('../src');

const PACKAGE_DIR = path.resolve(__dirname, '..');
const GENERATED = path.join(PACKAGE_DIR, 'generated');

function generate(outDir) {
  fs.rmSync(outDir, { recursive: true, force: true });
  const flags = [
    LOADER_OPTIONS.keepCase && '--keepCase',
    `--longs=${LOADER_OPTIONS.longs.name}`,
    `--enums=${LOADER_OPTIONS.enums.name}`,
    LOADER_OPTIONS.defaults && '--defaults',
    LOADER_OPTIONS.oneofs && '--oneofs',
    '--includeComments',
    '--grpcLib=@grpc/grpc-js',
  ].filter(Boolean);
  // Relative include paths keep the "Original file" comments the same on every machine.
  const dirs = includeDirs().flatMap((dir) => ['-I', path.relative(PACKAGE_DIR, dir) || '.']);
  const bin = path.join(path.dirname(require.resolve('@grpc/proto-loader/package.json')), 'build/bin/proto-loader-gen-types.js');
  execFileSync(process.execPath, [bin, ...flags, ...dirs, '-O', outDir, ...PROTO_FILES], { cwd: PACKAGE_DIR, stdio: 'inherit' });
}

function listFiles(dir, prefix = '') {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(prefix, entry.name);
    return entry.isDirectory() ? listFiles(path.join(dir, entry.name), relative) : [relative];
  });
}

if (process.argv.includes('--check')) {
  const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'imaging-types-'));
  try {
    generate(fresh);
    const names = new Set([...listFiles(fresh), ...listFiles(GENERATED)]);
    const stale = [...names].sort().filter((name) => {
      const [a, b] = [path.join(fresh, name), path.join(GENERATED, name)];
      return !fs.existsSync(a) || !fs.existsSync(b) || !fs.readFileSync(a).equals(fs.readFileSync(b));
    });
    if (stale.length) {
      console.error(`generated/ is out of date with the protos (run \`npm run gen\` in clients/node):\n  ${stale.join('\n  ')}`);
      process.exit(1);
    }
    console.log(`generated/ is up to date (${names.size} files)`);
  } finally {
    fs.rmSync(fresh, { recursive: true, force: true });
  }
} else {
  generate(GENERATED);
  console.log(`wrote ${listFiles(GENERATED).length} files under ${path.relative(process.cwd(), GENERATED) || '.'}`);
}
