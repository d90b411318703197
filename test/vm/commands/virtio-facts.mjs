// Read-only look at the guest's modern virtio-net (1af4:1041) through the package's object
// model (dist/). Writes only the feature/queue select registers; never device_status.
import { openDevice, findPciDevices } from '../../../dist/index.js';
import * as V from '../../../dist/uapi/virtio.js';
import { PCI_CAP_ID_MSIX, PCI_MSIX_FLAGS, PCI_MSIX_TABLE, PCI_MSIX_PBA } from '../../../dist/uapi/pci-regs.js';

const iommu = process.env.VFIO_VM_IOMMU === 'none' ? { iommu: 'container', unsafeNoIommu: true } : { iommu: 'container' };
const hex = (v, w = 0) => '0x' + v.toString(16).padStart(w, '0');
const names = (bits) => {
  const out = [];
  for (let b = 0; b < 64; b++) if ((bits >> BigInt(b)) & 1n) out.push(`${b}:${V.VIRTIO_FEATURE_NAMES[b] ?? V.VIRTIO_NET_FEATURE_NAMES[b] ?? '?'}`);
  return out.join(' ');
};
for (const info of findPciDevices({ vendor: 0x1af4 })) {
  console.log(`== ${info.address} ${hex(info.vendor, 4)}:${hex(info.device, 4)} driver=${info.driver} group=${info.iommuGroup}`);
  if (info.driver !== 'vfio-pci') continue;
  const dev = openDevice(info.address, iommu);
  try {
    const c = dev.config;
    console.log(`revision ${hex(c.read8(8))} class ${hex(c.read32(8) >>> 8, 6)} subsys ${hex(c.read16(0x2c), 4)}:${hex(c.read16(0x2e), 4)} command ${hex(c.read16(4), 4)} status ${hex(c.read16(6), 4)} canReset=${dev.canReset} numRegions=${dev.info.numRegions}`);
    for (let i = 0; i < 6; i++) {
      const ri = dev.regionInfo(i);
      if (ri.size === 0n) { console.log(`BAR${i}: -`); continue; }
      const raw = c.read32(0x10 + 4 * i);
      console.log(`BAR${i}: size ${hex(Number(ri.size))} flags ${hex(ri.flags)} raw ${hex(raw, 8)} sparse=${JSON.stringify(ri.caps.sparseMmap?.map((a) => [Number(a.offset), Number(a.size)]) ?? null)} msixMappable=${ri.caps.msixMappable ?? '?'}`);
    }
    const caps = c.capabilities();
    console.log('capabilities: ' + caps.map((k) => `${hex(k.id, 2)}@${hex(k.offset, 2)}`).join(' '));
    const found = {};
    for (const k of caps) {
      if (k.id === PCI_CAP_ID_MSIX) {
        const flags = c.read16(k.offset + PCI_MSIX_FLAGS), t = c.read32(k.offset + PCI_MSIX_TABLE), p = c.read32(k.offset + PCI_MSIX_PBA);
        console.log(`MSI-X: table size ${(flags & 0x7ff) + 1} flags ${hex(flags, 4)} table BAR${t & 7}+${hex(t & ~7)} PBA BAR${p & 7}+${hex(p & ~7)}`);
      }
      if (k.id !== 0x09) continue;
      const o = k.offset;
      const capLen = c.read8(o + V.VIRTIO_PCI_CAP_LEN), type = c.read8(o + V.VIRTIO_PCI_CAP_CFG_TYPE), bar = c.read8(o + V.VIRTIO_PCI_CAP_BAR);
      const id = c.read8(o + V.VIRTIO_PCI_CAP_ID), offset = c.read32(o + V.VIRTIO_PCI_CAP_OFFSET), length = c.read32(o + V.VIRTIO_PCI_CAP_LENGTH);
      const mult = type === V.VIRTIO_PCI_CAP_NOTIFY_CFG ? c.read32(o + V.VIRTIO_PCI_NOTIFY_CAP_MULT) : undefined;
      console.log(`vendor cap @${hex(o, 2)}: cap_len ${capLen} cfg_type ${type} bar ${bar} id ${id} offset ${hex(offset)} length ${hex(length)}${mult !== undefined ? ` notify_off_multiplier ${mult}` : ''}`);
      if (!found[type]) found[type] = { bar, offset, length, mult };
    }
    const at = (t) => { const f = found[t]; return { r: dev.bar(f.bar), o: f.offset, f }; };
    const cc = at(V.VIRTIO_PCI_CAP_COMMON_CFG);
    const r = cc.r, o = cc.o;
    console.log(`BAR${cc.f.bar} region: size ${hex(r.size)} mapped ${JSON.stringify(r.mappedAreas)} mmapError ${r.mmapError?.message ?? '-'}`);
    const feat = (sel, reg) => { r.write32(o + sel, 0); const lo = r.read32(o + reg); r.write32(o + sel, 1); const hi = r.read32(o + reg); return (BigInt(hi) << 32n) | BigInt(lo); };
    const df = feat(V.VIRTIO_PCI_COMMON_DFSELECT, V.VIRTIO_PCI_COMMON_DF);
    console.log(`device_feature ${hex(df, 16)}`);
    console.log(`  names: ${names(df)}`);
    for (const s of [2, 3]) { r.write32(o + V.VIRTIO_PCI_COMMON_DFSELECT, s); console.log(`  device_feature_select=${s}: ${hex(r.read32(o + V.VIRTIO_PCI_COMMON_DF), 8)}`); }
    r.write32(o + V.VIRTIO_PCI_COMMON_DFSELECT, 0);
    const gf = feat(V.VIRTIO_PCI_COMMON_GFSELECT, V.VIRTIO_PCI_COMMON_GF);
    r.write32(o + V.VIRTIO_PCI_COMMON_GFSELECT, 0);
    const nq = r.read16(o + V.VIRTIO_PCI_COMMON_NUMQ);
    console.log(`driver_feature (as found) ${hex(gf, 16)} msix_config ${hex(r.read16(o + V.VIRTIO_PCI_COMMON_MSIX), 4)} num_queues ${nq} device_status ${hex(r.read8(o + V.VIRTIO_PCI_COMMON_STATUS), 2)} config_generation ${r.read8(o + V.VIRTIO_PCI_COMMON_CFGGENERATION)} queue_select (as found) ${r.read16(o + V.VIRTIO_PCI_COMMON_Q_SELECT)}`);
    for (let q = 0; q <= nq; q++) {
      r.write16(o + V.VIRTIO_PCI_COMMON_Q_SELECT, q);
      const lo = (x) => r.read32(o + x);
      const addr = (l, h) => hex((BigInt(lo(h)) << 32n) | BigInt(lo(l)));
      console.log(`queue ${q}${q === nq ? ' (= num_queues, past the end)' : ''}: size ${r.read16(o + V.VIRTIO_PCI_COMMON_Q_SIZE)} msix ${hex(r.read16(o + V.VIRTIO_PCI_COMMON_Q_MSIX), 4)} enable ${r.read16(o + V.VIRTIO_PCI_COMMON_Q_ENABLE)} notify_off ${r.read16(o + V.VIRTIO_PCI_COMMON_Q_NOFF)} desc ${addr(V.VIRTIO_PCI_COMMON_Q_DESCLO, V.VIRTIO_PCI_COMMON_Q_DESCHI)} avail ${addr(V.VIRTIO_PCI_COMMON_Q_AVAILLO, V.VIRTIO_PCI_COMMON_Q_AVAILHI)} used ${addr(V.VIRTIO_PCI_COMMON_Q_USEDLO, V.VIRTIO_PCI_COMMON_Q_USEDHI)}`);
    }
    r.write16(o + V.VIRTIO_PCI_COMMON_Q_SELECT, 0);
    // Past the 1.0 fields: queue_notify_data (56), queue_reset (58) and beyond.
    try { console.log(`common @56 ${hex(r.read16(o + 56), 4)} @58 ${hex(r.read16(o + 58), 4)} @60 ${hex(r.read32(o + 60), 8)}`); } catch (e) { console.log(`common past 56: ${e.message}`); }
    const dc = at(V.VIRTIO_PCI_CAP_DEVICE_CFG);
    const mac = Array.from({ length: 6 }, (_, i) => dc.r.read8(dc.o + V.VIRTIO_NET_CONFIG_MAC + i).toString(16).padStart(2, '0')).join(':');
    const bytes = Array.from({ length: Math.min(dc.f.length, 32) }, (_, i) => dc.r.read8(dc.o + i).toString(16).padStart(2, '0')).join(' ');
    console.log(`device config: mac ${mac} status ${hex(dc.r.read16(dc.o + V.VIRTIO_NET_CONFIG_STATUS), 4)} max_virtqueue_pairs ${dc.r.read16(dc.o + V.VIRTIO_NET_CONFIG_MAX_PAIRS)} mtu ${dc.r.read16(dc.o + V.VIRTIO_NET_CONFIG_MTU)} speed ${hex(dc.r.read32(dc.o + V.VIRTIO_NET_CONFIG_SPEED))} duplex ${hex(dc.r.read8(dc.o + V.VIRTIO_NET_CONFIG_DUPLEX))}`);
    console.log(`device config bytes (first ${Math.min(dc.f.length, 32)}): ${bytes}`);
    const isr = at(V.VIRTIO_PCI_CAP_ISR_CFG);
    console.log(`ISR (read clears) ${hex(isr.r.read8(isr.o), 2)}, again ${hex(isr.r.read8(isr.o), 2)}`);
    console.log(`irq info: ${['intx', 'msi', 'msix', 'err', 'req'].map((k) => { try { return `${k}=${dev.irqInfo(k).count}`; } catch (e) { return `${k}=!`; } }).join(' ')}`);
  } finally {
    dev.close();
  }
}
