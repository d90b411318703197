/**
 * vfio/virtio: the virtio 1.x PCI transport and split virtqueues, driver side, for any
 * virtio device driver (src/net/virtio-net is one).
 *
 *   const t = VirtioPciTransport.open(device);    // finds the structures; writes nothing
 *   t.deviceType, featureNames(t.deviceFeatures(), t.deviceType)
 *   t.reset(); t.addStatus(ACKNOWLEDGE | DRIVER); t.negotiate(wanted, required);
 *   const q = SplitQueue.allocate(device, 256, t.hasFeature(VIRTIO_RING_F_EVENT_IDX));
 *   const n = t.setupQueue(0, { size: 256, desc: q.descIova, avail: q.availIova, used: q.usedIova });
 *   q.setNotifier(() => t.notify(n));
 *   t.addStatus(DRIVER_OK);
 *
 * @packageDocumentation
 */
export { findVirtioCaps, type VirtioCaps, type VirtioStructure } from './caps.js';
export { VirtioPciTransport, type QueueSetup, type QueueNotifier } from './transport.js';
export { SplitQueue, splitQueueLayout, type SplitQueueLayout, type QueueAllocator } from './split-queue.js';
export { virtioError } from './errors.js';
export { virtioDeviceName, virtioDeviceType, featureNames, statusNames } from './names.js';
