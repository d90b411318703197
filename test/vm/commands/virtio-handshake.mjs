// How QEMU's virtio-net answers the transport's handshake (dist/virtio): feature negotiation
// with and without ACCESS_PLATFORM, queue sizes, vectors before MSI-X is enabled. Leaves the
// device reset.
import { openDevice, findPciDevices } from '../../../dist/index.js';
import { VirtioPciTransport } from '../../../dist/virtio/transport.js';
import { statusNames, featureNames } from '../../../dist/virtio/names.js';

const opts = process.env.VFIO_VM_IOMMU === 'none' ? { iommu: 'container', unsafeNoIommu: true } : { iommu: 'container' };
const bit = (n) => 1n << BigInt(n);
const base = bit(32) | bit(29) | bit(5) | bit(16); // VERSION_1 EVENT_IDX MAC STATUS
for (const info of findPciDevices({ vendor: 0x1af4, device: 0x1041 })) {
  const dev = openDevice(info.address, opts);
  const t = VirtioPciTransport.open(dev);
  const say = (what) => console.log(`${what}: status ${statusNames(t.status)}`);
  try {
    say('as found');
    let t0 = performance.now();
    t.reset();
    say(`reset (${(performance.now() - t0).toFixed(2)} ms)`);
    for (const [name, wanted] of [['without ACCESS_PLATFORM', base], ['with ACCESS_PLATFORM', base | bit(33)]]) {
      t.reset();
      t.addStatus(1);
      t.addStatus(2);
      try {
        const got = t.negotiate(wanted, bit(32));
        say(`negotiate ${name}: kept ${featureNames(got, 1).join(' ')}`);
      } catch (e) {
        say(`negotiate ${name}: ${e.code}: ${e.message}`);
      }
    }
    for (let q = 0; q < 4; q++) console.log(`queueMaxSize(${q}) = ${(() => { try { return t.queueMaxSize(q); } catch (e) { return e.code ?? e.message; } })()}`);
    try {
      t.setConfigVector(0);
      console.log('setConfigVector(0) before MSI-X is enabled: kept');
    } catch (e) {
      console.log(`setConfigVector(0) before MSI-X is enabled: ${e.code}: ${e.message}`);
    }
    console.log(`config length ${t.configLength}`);
    t0 = performance.now();
    t.reset();
    say(`final reset (${(performance.now() - t0).toFixed(2)} ms)`);
  } finally {
    t.close();
    dev.close();
  }
}
