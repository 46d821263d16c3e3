//! Runs the compile tests: `ui/pass` must build, `ui/fail` must fail with the checked-in errors.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
