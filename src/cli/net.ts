// `vfio net pktgen|capture|fwd`: the packet apps of vfio/net (src/net/apps) on any NIC
// openPort drives. This is the group; net-app.ts holds what the three share.
import type { Command } from './command.js';
import { captureCommand } from './net-capture.js';
import { fwdCommand } from './net-fwd.js';
import { pktgenCommand } from './net-pktgen.js';

export const netCommand: Command = {
  name: 'net',
  summary: 'packet apps on a NIC: pktgen, capture, fwd (live rates, pcap, zero-copy)',
  usage: 'vfio net pktgen|capture|fwd [options] ADDR...',
  description: [
    'The apps of vfio/net on any NIC its drivers take (the driver is chosen by PCI id: today',
    'the Intel 82574L/LA, e1000e). The device must be bound to vfio-pci (`vfio bind ADDR`).',
    'On a terminal each app prints one line per second (frames/s, bit/s, drops, ring-full),',
    'then a summary; --json prints only one JSON object at the end. Ctrl-C stops an app, which',
    'still prints its summary.',
  ].join('\n'),
  options: {},
  positionals: { min: 0, max: Infinity },
  subcommands: [pktgenCommand, captureCommand, fwdCommand],
  run: () => 2, // never called: run.ts dispatches to the subcommands
};
