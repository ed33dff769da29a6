# The R babelfish (R/babelfish.R, spec/babelfish.md): the protocol, and the
# translator against a real server and its web UI.

babel_request <- function(id, codec, payload, max_chars = 10000L)
  c(charToRaw(sprintf("nws-babelfish 1 %s %s %d\n", id, codec, max_chars)), payload)

test_that("a data frame is answered with its print() output", {
  df <- data.frame(x = 1:3, y = c("a", "b", "c"))
  reply <- nws:::.nwsBabelAnswer(babel_request(5, "r/serialize", serialize(df, NULL)))
  expect_identical(reply, paste0("5 ok\n", paste(capture.output(print(df)), collapse = "\n")))
})

test_that("a plain list is answered with its str() output", {
  reply <- nws:::.nwsBabelAnswer(babel_request(6, "r/serialize", serialize(list(a = 1, b = "z"), NULL)))
  expect_match(reply, "^6 ok\nList of 2\n \\$ a: num 1\n \\$ b: chr \"z\"$")
})

test_that("other codecs, garbage and non-requests are handled", {
  expect_identical(nws:::.nwsBabelAnswer(babel_request(7, "python/pickle", as.raw(1:3))),
                   "7 error\nthe R babelfish does not read python/pickle")
  expect_match(nws:::.nwsBabelAnswer(babel_request(8, "r/serialize", as.raw(1:3))),
               "^8 error\ncannot unserialize")
  expect_null(nws:::.nwsBabelAnswer("text"))
  expect_null(nws:::.nwsBabelAnswer(charToRaw("no header")))
})

test_that("long output is cut to the requested size", {
  reply <- nws:::.nwsBabelAnswer(babel_request(9, "r/serialize", serialize(1:5000, NULL), 200L))
  expect_match(reply, "\\(cut short\\)$")
  expect_lt(nchar(reply), 260)
})

test_that("the translator shows an R data frame in the web UI", {
  port <- test_port()
  log <- readLines(.nws_test$server$log, warn = FALSE)
  web <- regmatches(log, regexpr("web UI on http://[0-9.]+:[0-9]+", log))
  skip_if(length(web) == 0, "no web UI line in the server log")
  web <- sub("web UI on ", "", web[[1]])
  fish <- processx::process$new(
    rscript(), c("-e", sprintf("nws::babelfish('127.0.0.1', %d, quiet = TRUE)", port)),
    stdout = "|", stderr = "2>&1", cleanup = TRUE)
  on.exit(fish$kill(), add = TRUE)
  ws <- test_ws("babel")
  nwsStore(ws, "df", data.frame(x = 1:3, y = c("a", "b", "c")))
  url <- sprintf("%s/api/values?ws=%s&var=df", web, utils::URLencode(nwsWsName(ws), reserved = TRUE))
  body <- ""
  for (i in 1:150) {
    con <- url(url)
    body <- paste(readLines(con, warn = FALSE), collapse = "\n")
    close(con)
    if (grepl("\"shown_as\":\"translated\"", body, fixed = TRUE)) break
    Sys.sleep(0.1)
  }
  expect_match(body, "\"shown_as\":\"translated\"", fixed = TRUE)
  expect_match(body, "\"translator\":\"R babelfish\"", fixed = TRUE)
  expect_match(body, "  x y\\n1 1 a\\n2 2 b\\n3 3 c", fixed = TRUE)
  # Showing consumed nothing.
  expect_identical(nwsFetch(ws, "df"), data.frame(x = 1:3, y = c("a", "b", "c")))
})
