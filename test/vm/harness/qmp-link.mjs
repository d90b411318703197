// Host side of the guest's link switch: follows the console log and, for each line
//   VFIO_VM_LINK <netdev> on|off
// the guest writes to its console, sends QEMU's QMP `set_link` over the monitor socket, so a
// guest test can pull a NIC's cable (QEMU's link is only reachable from its monitor). Only
// set_link, and only for the netdev ids qemu.sh creates (n0-n9): the guest gets no other
// monitor command. Runs until killed (qemu.sh stops it when QEMU exits).
//
// usage: node qmp-link.mjs LOG SOCKET
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { connect } from 'node:net';

const [log, socket] = process.argv.slice(2);
const LINE = /^VFIO_VM_LINK (n[0-9]) (on|off)\r?$/;

/** One QMP session per command: greeting, capabilities, set_link, then close. */
function setLink(name, up) {
  const c = connect(socket);
  let buf = '';
  let step = 0;
  c.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (step === 0 && msg.QMP) {
        c.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
        step = 1;
      } else if (step === 1 && 'return' in msg) {
        c.write(JSON.stringify({ execute: 'set_link', arguments: { name, up } }) + '\n');
        step = 2;
      } else if (step === 2 && ('return' in msg || 'error' in msg)) {
        console.error(`qmp-link: set_link ${name} ${up ? 'on' : 'off'}: ${JSON.stringify(msg)}`);
        c.end();
      }
    }
  });
  c.on('error', (e) => console.error(`qmp-link: ${socket}: ${e.message}`));
}

let offset = 0;
let rest = '';
setInterval(() => {
  let size;
  try {
    size = statSync(log).size;
  } catch {
    return;
  }
  if (size <= offset) return;
  const fd = openSync(log, 'r');
  const chunk = Buffer.alloc(size - offset);
  readSync(fd, chunk, 0, chunk.length, offset);
  closeSync(fd);
  offset = size;
  const lines = (rest + chunk.toString('latin1')).split('\n');
  rest = lines.pop();
  for (const l of lines) {
    const m = LINE.exec(l);
    if (m) setLink(m[1], m[2] === 'on');
  }
}, 100);
