#!/usr/bin/env bash
# The package as users receive it: `npm pack`, then install the tarball into an empty
# project with no compiler on PATH (the addon must come prebuilt) and use it the ways a
# user would: ESM import, require(), a TypeScript consumer (nodenext and bundler, full
# lib check), the `vfio` command, and the fake kernel driving the edu model. Then publint
# and arethetypeswrong judge the tarball. Prints the tarball's size; exits non-zero on the
# first failure. Needs the repo's devDependencies installed (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step() { echo "check-package: $*"; }

step "npm pack"
tarball="$(npm pack --silent --pack-destination "$work" | tail -1)"
tarball="$work/$tarball"
step "$(basename "$tarball"): $(stat -c %s "$tarball") bytes packed, $(tar -tzf "$tarball" | wc -l) files"

# A PATH with node and npm but no compiler, make or python: an install that needs to
# build the addon fails here, as it would on a machine without build tools.
bin="$work/bin"
mkdir -p "$bin"
for tool in node npm npx; do ln -s "$(command -v "$tool")" "$bin/$tool"; done
for tool in sh bash env uname cat; do ln -s "$(command -v "$tool")" "$bin/$tool"; done
nocc() { env PATH="$bin" "$@"; }

app="$work/app"
mkdir -p "$app"
cd "$app"
echo '{ "name": "app", "version": "1.0.0", "private": true, "type": "module" }' >package.json
step "npm install the tarball with no compiler on PATH"
start=$SECONDS
nocc npm install --no-audit --no-fund --offline=false "$tarball" >"$work/install.log" 2>&1 || {
  cat "$work/install.log"
  echo "check-package: install failed"
  exit 1
}
step "installed in $((SECONDS - start)) s"

step "ESM import, and the native addon loads"
nocc node --input-type=module -e "
import { openDevice, nativeBackend } from 'vfio';
if (typeof openDevice !== 'function') throw new Error('no openDevice');
const b = nativeBackend();
if (!(b.pageSize > 0)) throw new Error('the addon did not load');
console.log('  addon loaded, page size', b.pageSize);
"

step "require() from CommonJS"
nocc node -e "
const v = require('vfio');
const f = require('vfio/fake');
const u = require('vfio/uapi');
const n = require('vfio/net');
const vi = require('vfio/virtio');
if (typeof v.openDevice !== 'function' || typeof f.FakeKernel !== 'function' || typeof u.VFIO_API_VERSION !== 'number' || typeof n.openPort !== 'function' || typeof vi.VirtioPciTransport !== 'function') process.exit(1);
"

step "the fake kernel drives the edu model"
nocc node --input-type=module -e "
import { openDevice } from 'vfio';
import { FakeKernel, EduModel } from 'vfio/fake';
const kernel = new FakeKernel();
kernel.addDevice('0000:00:02.0', new EduModel());
const dev = openDevice('0000:00:02.0', kernel.options);
const id = dev.bar(0).read32(0);
dev.close();
kernel.dispose();
if (id !== 0x010000ed) throw new Error('edu id ' + id.toString(16));
"

step "the vfio command: --help, doctor --json"
nocc npx --no-install vfio --help >/dev/null
# doctor exits 1 when a check fails (no IOMMU here is normal); its JSON must parse either way.
set +e
nocc npx --no-install vfio doctor --json >"$work/doctor.json"
status=$?
set -e
[ "$status" = 0 ] || [ "$status" = 1 ] || { echo "check-package: vfio doctor exited $status"; exit 1; }
nocc node -e "const c = JSON.parse(require('fs').readFileSync('$work/doctor.json', 'utf8')); if (!Array.isArray(c.checks ?? c)) process.exit(1);"

step "a TypeScript consumer under nodenext and bundler, skipLibCheck false"
cat >main.ts <<'EOF'
import { openDevice, VfioError, type Device, type DmaOptions } from 'vfio';
import { FakeKernel, EduModel } from 'vfio/fake';
import { VFIO_API_VERSION } from 'vfio/uapi';
import { openPort, type Port } from 'vfio/net';
const kernel = new FakeKernel();
kernel.addDevice('0000:00:02.0', new EduModel());
const dev: Device = openDevice('0000:00:02.0', kernel.options);
const options: DmaOptions = { dmaBits: 28 };
const buf = dev.allocDma(4096, options);
const iova: number = buf.iova;
const n: number | undefined = dev.group?.number;
dev.on('release-request', () => dev.close());
if (!(VFIO_API_VERSION > 0) || !(VfioError.prototype instanceof Error)) throw new Error();
const open: (address: string) => Port = openPort;
void iova;
void n;
void open;
EOF
for resolution in nodenext bundler; do
  module=nodenext
  [ "$resolution" = bundler ] && module=esnext
  cat >tsconfig.json <<EOF
{ "compilerOptions": { "strict": true, "target": "ES2022", "module": "$module", "moduleResolution": "$resolution",
  "types": ["node"], "typeRoots": ["$repo/node_modules/@types"], "skipLibCheck": false, "noEmit": true }, "files": ["main.ts"] }
EOF
  nocc node "$repo/node_modules/typescript/bin/tsc" -p . || { echo "check-package: tsc ($resolution) failed"; exit 1; }
  echo "  $resolution: ok"
done

cd "$repo"
step "publint"
node node_modules/publint/src/cli.js run "$tarball" --strict
step "arethetypeswrong (ESM only)"
node node_modules/@arethetypeswrong/cli/dist/index.js "$tarball" --profile esm-only
step "all checks passed"
