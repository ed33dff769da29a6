# Package hooks. Loading prints nothing and starts nothing: the runtime and
# its keepalive thread start with the first connection. The shared object
# is never unloaded (a running runtime thread would be left without code).
.onLoad <- function(libname, pkgname) {
  invisible(NULL)
}
