# Conditions: every failure of an NWS operation is an R condition of class
#   c("nws_error_<reason in lower case>", "nws_error", "error", "condition")
# with fields `message`, `call` (the user's call), and `reason` (the
# catalog name, e.g. "TIMED_OUT"); see spec/errors.md. Client-side reasons:
# CONNECT (cannot connect), DISCONNECTED (the session ended or was closed),
# DECODE (an r/serialize value that unserialize() rejects; the condition
# carries the bytes in `value` and the codec in `codec`).
#
# The native layer never throws: it returns an `nws_failure` list, which
# .nwsFail() raises here, from R, naming the user's call.

# Build an NWS condition object
# 

nwsCondition <- function(reason, message, call = NULL, ...) {
  structure(
    class = c(paste0("nws_error_", tolower(reason)), "nws_error", "error", "condition"),
    list(message = message, call = call, reason = reason, ...)
  )
}

# Raises the failure `f` (an nws_failure list) as a condition from `call`;
# a user interrupt is re-raised as an interrupt.
.nwsFail <- function(f, call) {
  if (identical(f$reason, "INTERRUPTED")) {
    nws_raise_interrupt()
    # Only reached if R deferred the interrupt (interrupts suspended).
    stop(nwsCondition("INTERRUPTED", "interrupted", call))
  }
  stop(nwsCondition(f$reason, f$message, call))
}

# Returns `res`, or raises it if it is a failure.
.nwsCheck <- function(res, call) {
  if (inherits(res, "nws_failure")) .nwsFail(res, call)
  res
}

# Argument checks: wrong types are the caller's mistake, reported with R's
# own stop() before anything is sent (spec/errors.md#client-mapping).
.nwsName <- function(x, what, call) {
  if (!is.character(x) || length(x) != 1L || is.na(x))
    stop(simpleError(sprintf("%s must be a character string, not %s",
                             what, .nwsDescribe(x)), call))
  enc2utf8(x)
}

.nwsDescribe <- function(x) {
  if (is.null(x)) return("NULL")
  sprintf("%s of length %d", class(x)[1L], length(x))
}

.nwsFlag <- function(x, what, call) {
  if (!is.logical(x) || length(x) != 1L || is.na(x))
    stop(simpleError(sprintf("%s must be TRUE or FALSE", what), call))
  x
}

# Seconds as a double; -1 for "no timeout".
.nwsTimeout <- function(timeout, call) {
  if (is.null(timeout)) return(-1)
  if (!is.numeric(timeout) || length(timeout) != 1L || is.na(timeout) || timeout < 0)
    stop(simpleError("timeout must be NULL or a number of seconds >= 0", call))
  as.double(timeout)
}
