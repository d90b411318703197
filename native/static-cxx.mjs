// Prints 1 when the C++ compiler can link libstdc++ statically, else 0; binding.gyp asks.
// Debian and Ubuntu ship libstdc++.a with g++; Fedora and RHEL keep it in libstdc++-static,
// often absent. A source build there links the local libstdc++ dynamically, which is right
// for a binary that only ever runs where it was built.
import { execFileSync } from 'node:child_process';
import { isAbsolute } from 'node:path';

const cxx = (process.env.CXX || 'g++').split(' ').filter(Boolean);
let found = '';
try {
  found = execFileSync(cxx[0], [...cxx.slice(1), '-print-file-name=libstdc++.a'], { encoding: 'utf8' }).trim();
} catch {
  // No compiler: the build fails anyway, with node-gyp's own message.
}
// The driver echoes the bare name when it finds no such file.
process.stdout.write(isAbsolute(found) ? '1' : '0');
