# sleigh_primes: the article's parallel prime finder (Listing One) in R.
# eachWorker(initPrimes) sets global state in every worker; each task combs
# CHUNK numbers, finding the primes it needs from earlier tasks in the
# sleigh's user workspace (SleighUserNws) and keeping them for later tasks.
#
#   Rscript sleigh_primes.R WORKERS LIMIT CHUNK
library(nws)

initPrimes <- function() {
  p <- nwsFind(SleighUserNws, "prime parameters")
  limit <<- p[[1]]
  chunk <<- p[[2]]
  chunks <<- list()
}

findPrimes <- function(first) {
  last <- min(first + chunk, limit)
  # we need to know all the primes up to the smaller of the start of
  # this chunk or the square root of its last element.
  need <- min(first - 2, as.integer(0.5 + sqrt(last - 1)))
  myPrimes <- numeric(0)
  if (need >= 3) for (c in seq(3, need, by = chunk)) {
    key <- as.character(c)
    if (is.null(chunks[[key]])) chunks[[key]] <<- nwsFind(SleighUserNws, paste0("primes", c))
    myPrimes <- c(myPrimes, chunks[[key]])
  }
  newx <- length(myPrimes)
  for (x in seq(first, last - 1, by = 2)) {
    if (all(x %% myPrimes != 0)) myPrimes <- c(myPrimes, x)
  }
  mine <- myPrimes[seq_len(length(myPrimes) - newx) + newx]
  if (first^2 < limit) nwsStore(SleighUserNws, paste0("primes", first), mine)
  mine
}

master <- function(workers, limit, chunk) {
  s <- sleigh(workerCount = workers)
  nwsStore(s@userNws, "prime parameters", list(limit, chunk))
  eachWorker(s, initPrimes)
  primes <- c(2, unlist(eachElem(s, findPrimes, seq(3, limit - 1, by = chunk))))
  stopSleigh(s)
  primes
}

args <- as.integer(commandArgs(TRUE))
primes <- master(args[[1]], args[[2]], args[[3]])
n <- length(primes)
cat(n, "[", paste(primes[1:3], collapse = ", "), "] ... [", paste(primes[(n - 2):n], collapse = ", "), "]\n")
