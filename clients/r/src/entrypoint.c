/* The package's init routine: install extendr's quiet panic hook, then let
 * the Rust side register its .Call routines (R_init_nws_extendr, generated
 * by extendr_module! in src/rust/src/lib.rs). Referencing it from here also
 * keeps the linker from dropping the static library. nws_r_loaded records
 * which process loaded the package, so the Rust side can tell forked
 * children (parallel::mclapply) apart. */
#include <Rinternals.h>
#include <R_ext/Rdynload.h>

void register_extendr_panic_hook(void);
void R_init_nws_extendr(DllInfo *dll);
void nws_r_loaded(void);

void R_init_nws(DllInfo *dll) {
    register_extendr_panic_hook();
    nws_r_loaded();
    R_init_nws_extendr(dll);
}
