/* weft: asyncio's programming model for C, on every core.
 *
 * The umbrella header; each module also has its own header under weft/.
 * See weft(7) for an overview and one man page per function.
 */
#ifndef WEFT_H
#define WEFT_H

#include "weft/common.h"
#include "weft/version.h"
#include "weft/errno.h"
#include "weft/alloc.h"
#include "weft/task.h"
#include "weft/time.h"
#include "weft/runtime.h"
#include "weft/scope.h"
#include "weft/gather.h"
#include "weft/group.h"
#include "weft/sync.h"
#include "weft/queue.h"
#include "weft/channel.h"
#include "weft/future.h"
#include "weft/generator.h"
#include "weft/limiter.h"
#include "weft/retry.h"
#include "weft/callback.h"
#include "weft/executor.h"
#include "weft/process.h"
#include "weft/fd.h"
#include "weft/fs.h"
#include "weft/socket.h"
#include "weft/stream.h"
#include "weft/subprocess.h"
#include "weft/server.h"
#include "weft/signal.h"
#include "weft/debug.h"

#endif /* WEFT_H */
