# sleigh_cubes: the article's Sleigh session in R. Starts a sleigh, asks each
# worker for its host name, computes a table of cubes with eachElem, calls a
# three-argument function with varying and fixed arguments, and runs a
# non-blocking eachElem watched with checkSleigh() and waitSleigh().
#
#   Rscript sleigh_cubes.R [host [port [workers]]]
library(nws)

args <- commandArgs(TRUE)
host <- if (length(args) >= 1) args[[1]] else Sys.getenv("NWS_HOST", "localhost")
port <- if (length(args) >= 2) as.integer(args[[2]]) else as.integer(Sys.getenv("NWS_PORT", "8765"))
workers <- if (length(args) >= 3) as.integer(args[[3]]) else 3L

f <- function(x, y, z) x + y + z
slowCube <- function(x) { Sys.sleep(0.01); x^3 }

s <- sleigh(workerCount = workers, nwsHost = host, nwsPort = port)
hosts <- unlist(eachWorker(s, function() Sys.info()[["nodename"]]))
cat("workers:", length(hosts), "on", paste(sort(unique(hosts)), collapse = ", "), "\n")
r <- eachElem(s, function(x) x^3, 0:99)
cat("cubes:", length(r), "r[3:5] =", unlist(r[3:5]), "last =", r[[100]], "\n")
cat("f(1,11,99), f(2,12,99), f(3,13,99) =", unlist(eachElem(s, f, list(1:3, 11:13), list(99))), "\n")
p <- eachElem(s, slowCube, 0:99, eo = list(blocking = FALSE))
cat("non-blocking:", attr(checkSleigh(p), "total"), "tasks submitted\n")
r2 <- waitSleigh(p)
cat("non-blocking: outstanding after wait:", as.integer(checkSleigh(p)), "same table:", identical(r2, r), "\n")
stopSleigh(s)
