;; plughost_go_stdio: a tiny WASI preview1 adapter for Go plugins that use no
;; files. Go's runtime and its os package (pulled in by fmt) import fd_write,
;; poll_oneoff and the preopen/fdstat calls; through the standard preview1
;; adapter those import wasi:filesystem, which would make every Go plugin ask
;; for a filesystem capability. build.mjs routes just these imports here when
;; the module imports nothing else file-related:
;;   - fd_write to fd 1/2 goes to plughost:plugin/host.log (info/warn);
;;   - there are no preopens and no fds but stdio;
;;   - poll_oneoff reports every subscription ready at once, so a sleep
;;     becomes a wait on the (real) clock instead of a block.
(module
  (import "env" "memory" (memory 0))
  ;; The host's log, which the Go module re-exports (build.mjs): through
  ;; the main module, so hosts that wire host functions straight into the
  ;; guest core serve these calls the same way.
  (import "__main_module__" "plughost_go_log" (func $log (param i32 i32 i32)))

  (func (export "fd_write") (param $fd i32) (param $iovs i32) (param $n i32) (param $nwritten i32) (result i32)
    (local $i i32) (local $p i32) (local $len i32) (local $total i32) (local $level i32)
    (if (i32.eq (local.get $fd) (i32.const 1)) (then (local.set $level (i32.const 1)))
      (else (if (i32.eq (local.get $fd) (i32.const 2)) (then (local.set $level (i32.const 2)))
        (else (return (i32.const 8))))))                         ;; EBADF
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $p (i32.load (i32.add (local.get $iovs) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $len (i32.load offset=4 (i32.add (local.get $iovs) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $total (i32.add (local.get $total) (local.get $len)))
        ;; One log record per write: drop one trailing newline, skip empty writes.
        (if (i32.and (i32.ne (local.get $len) (i32.const 0))
                     (i32.eq (i32.load8_u (i32.sub (i32.add (local.get $p) (local.get $len)) (i32.const 1))) (i32.const 10)))
          (then (local.set $len (i32.sub (local.get $len) (i32.const 1)))))
        (if (local.get $len) (then (call $log (local.get $level) (local.get $p) (local.get $len))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store (local.get $nwritten) (local.get $total))
    (i32.const 0))

  (func (export "poll_oneoff") (param $in i32) (param $out i32) (param $n i32) (param $nevents i32) (result i32)
    (local $i i32) (local $s i32) (local $e i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i32.add (local.get $in) (i32.mul (local.get $i) (i32.const 48))))
        (local.set $e (i32.add (local.get $out) (i32.mul (local.get $i) (i32.const 32))))
        (i64.store (local.get $e) (i64.load (local.get $s)))                        ;; userdata
        (i32.store16 offset=8 (local.get $e) (i32.const 0))                         ;; error
        (i32.store8 offset=10 (local.get $e) (i32.load8_u offset=8 (local.get $s))) ;; type = subscription tag
        (i64.store offset=16 (local.get $e) (i64.const 0))                          ;; nbytes
        (i32.store16 offset=24 (local.get $e) (i32.const 0))                        ;; flags
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store (local.get $nevents) (local.get $n))
    (i32.const 0))

  ;; No preopened directories.
  (func (export "fd_prestat_get") (param i32 i32) (result i32) (i32.const 8))
  (func (export "fd_prestat_dir_name") (param i32 i32 i32) (result i32) (i32.const 8))

  ;; fds 0-2 are character devices; nothing else exists.
  (func (export "fd_fdstat_get") (param $fd i32) (param $buf i32) (result i32)
    (if (i32.gt_u (local.get $fd) (i32.const 2)) (then (return (i32.const 8))))
    (i32.store8 (local.get $buf) (i32.const 2))           ;; filetype: character_device
    (i32.store16 offset=2 (local.get $buf) (i32.const 0)) ;; flags: blocking
    (i64.store offset=8 (local.get $buf) (i64.const -1))  ;; rights
    (i64.store offset=16 (local.get $buf) (i64.const 0))
    (i32.const 0))
  (func (export "fd_fdstat_set_flags") (param $fd i32) (param i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $fd) (i32.const 2)) (then (i32.const 8)) (else (i32.const 52)))) ;; ENOSYS: stays blocking
  (func (export "fd_close") (param $fd i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $fd) (i32.const 2)) (then (i32.const 8)) (else (i32.const 0))))
)
