/**
 * Drives an edu device end to end: identification, liveness, factorial with an
 * MSI on completion, a hand-raised MSI, and a DMA round trip through the IOMMU.
 *
 *   npx tsx examples/edu/main.ts [0000:00:03.0]     (finds the first edu when no address is given)
 */
import { findPciDevices } from 'vfio';
import { Edu, SAFE_TRANSFER } from './edu.js';

function pickAddress(): string {
  const arg = process.argv[2];
  if (arg && !arg.startsWith('-')) return arg;
  const found = findPciDevices({ vendor: 0x1234, device: 0x11e8 }).filter((d) => d.driver === 'vfio-pci');
  if (!found.length) throw new Error('no edu device bound to vfio-pci; pass its PCI address');
  return found[0]!.address;
}

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    console.log('usage: tsx examples/edu/main.ts [PCI address]\nDrives QEMU\'s edu device through VFIO.');
    return;
  }
  const address = pickAddress();
  const edu = Edu.open(address);
  try {
    const d = edu.device;
    console.log(`edu ${address}: version ${edu.version}, through ${d.iommuApi}${d.dmaTranslated ? '' : ' (DMA NOT TRANSLATED)'}`);
    console.log(`liveness: ${edu.isAlive() ? 'ok' : 'FAILED'}`);
    console.log(`10! = ${await edu.factorial(10)} (completion by MSI)`);
    console.log(`raised interrupt arrived, eventfd count ${await edu.raise(0x42)}`);

    const out = edu.allocDma();
    const back = edu.allocDma();
    const bytes = out.bytes;
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 13) & 0xff;
    const t0 = process.hrtime.bigint();
    await edu.dma('toDevice', out);
    await edu.dma('toRam', back);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const same = Buffer.compare(Buffer.from(bytes.subarray(0, SAFE_TRANSFER)), Buffer.from(back.bytes.subarray(0, SAFE_TRANSFER))) === 0;
    console.log(`DMA ${SAFE_TRANSFER} bytes RAM(iova 0x${out.iova.toString(16)}) -> device -> RAM(iova 0x${back.iova.toString(16)}): ${same ? 'identical' : 'MISMATCH'} in ${ms.toFixed(1)} ms`);
    if (!same) process.exitCode = 1;
  } finally {
    edu.close();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
