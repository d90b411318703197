/** What a virtio-net port reports as `stats().hw`: virtio has no NIC counters, so the transport's events. */
export type VirtioNetHwStats = {
  /** Used-ring entries refused because they named a descriptor the driver had not given the device (both queues). */
  badUsed: number;
  /** Notifications (MMIO writes) sent for the receive queue: EVENT_IDX keeps them rare. */
  rxNotifications: number;
  /** Notifications sent for the transmit queue. */
  txNotifications: number;
  /** Configuration-change interrupts (link changes, DEVICE_NEEDS_RESET). */
  configInterrupts: number;
};
