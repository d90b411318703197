// Names for errno values, as Node's system errors carry them in `code`.
// glibc's strerrorname_np would do this but needs glibc 2.32, above the floor the prebuilt
// addon keeps (2.28); libuv names only the errnos it knows (not EBADFD, for one). A table
// from <errno.h>'s own macros keeps every value right for the target's headers.
#include <cerrno>
#include <string>

#include "shim.h"

namespace vfio {
namespace {

struct Name {
  int err;
  const char* name;
};

#define E(x) {x, #x}
// Aliases (EWOULDBLOCK, EDEADLOCK, ENOTSUP) are left out: the first name of a value wins,
// as with strerrorname_np.
const Name kUser[] = {
  E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG), E(ENOEXEC), E(EBADF),
  E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES), E(EFAULT), E(ENOTBLK), E(EBUSY), E(EEXIST),
  E(EXDEV), E(ENODEV), E(ENOTDIR), E(EISDIR), E(EINVAL), E(ENFILE), E(EMFILE), E(ENOTTY),
  E(ETXTBSY), E(EFBIG), E(ENOSPC), E(ESPIPE), E(EROFS), E(EMLINK), E(EPIPE), E(EDOM), E(ERANGE),
  E(EDEADLK), E(ENAMETOOLONG), E(ENOLCK), E(ENOSYS), E(ENOTEMPTY), E(ELOOP), E(ENOMSG),
  E(EIDRM), E(ECHRNG), E(EL2NSYNC), E(EL3HLT), E(EL3RST), E(ELNRNG), E(EUNATCH), E(ENOCSI),
  E(EL2HLT), E(EBADE), E(EBADR), E(EXFULL), E(ENOANO), E(EBADRQC), E(EBADSLT), E(EBFONT),
  E(ENOSTR), E(ENODATA), E(ETIME), E(ENOSR), E(ENONET), E(ENOPKG), E(EREMOTE), E(ENOLINK),
  E(EADV), E(ESRMNT), E(ECOMM), E(EPROTO), E(EMULTIHOP), E(EDOTDOT), E(EBADMSG), E(EOVERFLOW),
  E(ENOTUNIQ), E(EBADFD), E(EREMCHG), E(ELIBACC), E(ELIBBAD), E(ELIBSCN), E(ELIBMAX),
  E(ELIBEXEC), E(EILSEQ), E(ERESTART), E(ESTRPIPE), E(EUSERS), E(ENOTSOCK), E(EDESTADDRREQ),
  E(EMSGSIZE), E(EPROTOTYPE), E(ENOPROTOOPT), E(EPROTONOSUPPORT), E(ESOCKTNOSUPPORT),
  E(EOPNOTSUPP), E(EPFNOSUPPORT), E(EAFNOSUPPORT), E(EADDRINUSE), E(EADDRNOTAVAIL),
  E(ENETDOWN), E(ENETUNREACH), E(ENETRESET), E(ECONNABORTED), E(ECONNRESET), E(ENOBUFS),
  E(EISCONN), E(ENOTCONN), E(ESHUTDOWN), E(ETOOMANYREFS), E(ETIMEDOUT), E(ECONNREFUSED),
  E(EHOSTDOWN), E(EHOSTUNREACH), E(EALREADY), E(EINPROGRESS), E(ESTALE), E(EUCLEAN),
  E(ENOTNAM), E(ENAVAIL), E(EISNAM), E(EREMOTEIO), E(EDQUOT), E(ENOMEDIUM), E(EMEDIUMTYPE),
  E(ECANCELED), E(ENOKEY), E(EKEYEXPIRED), E(EKEYREVOKED), E(EKEYREJECTED), E(EOWNERDEAD),
  E(ENOTRECOVERABLE), E(ERFKILL), E(EHWPOISON),
};
#undef E

// The kernel's internal codes (include/linux/errno.h) have no userspace macro, yet a few leak
// out of driver ioctls (ENOTSUPP from VFIO and iommufd paths above all).
const Name kKernel[] = {
  {512, "ERESTARTSYS"}, {513, "ERESTARTNOINTR"}, {514, "ERESTARTNOHAND"}, {515, "ENOIOCTLCMD"},
  {516, "ERESTART_RESTARTBLOCK"}, {517, "EPROBE_DEFER"}, {518, "EOPENSTALE"}, {519, "ENOPARAM"},
  {521, "EBADHANDLE"}, {522, "ENOTSYNC"}, {523, "EBADCOOKIE"}, {524, "ENOTSUPP"},
  {525, "ETOOSMALL"}, {526, "ESERVERFAULT"}, {527, "EBADTYPE"}, {528, "EJUKEBOX"},
  {529, "EIOCBQUEUED"}, {530, "ERECALLCONFLICT"}, {531, "ENOGRACE"},
};

}  // namespace

std::string ErrnoName(int err) {
  for (const Name& n : kUser)
    if (n.err == err) return n.name;
  for (const Name& n : kKernel)
    if (n.err == err) return n.name;
  return "ERRNO_" + std::to_string(err);
}

}  // namespace vfio
