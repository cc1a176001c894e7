;; gemm.wat: the f32x4 GEMM tile kernel busam's Go wasm build calls for its
;; matrix products (Go's wasm backend emits no SIMD). Compiled with wabt:
;;
;;   wat2wasm gemm.wat -o gemm.wasm
;;
;; The module has no memory of its own: it imports the Go module's linear
;; memory, so the packed panels Go prepared are read in place and the tile is
;; written straight into Go's C matrix. Addresses are byte offsets in that
;; memory; every float32 is 4 bytes.
;;
;; Plain mul + add (no FMA, no relaxed SIMD), so each lane sums its products
;; in the same order, with the same roundings, as the plain-Go kernel.
(module
  (import "env" "memory" (memory 1))

  ;; tile computes C = alpha*A*B + beta*C + bias for a rows x cols block
  ;; (rows a multiple of 4, cols a multiple of 8): A element (i, p) at
  ;; a + 4*(i*rsa + p*csa) (a packed panel: rsa = 1, csa = its height; or A
  ;; in place, either orientation), B element (p, j) at b + 4*(p*sb + j),
  ;; C element (i, j) at c + 4*(i*ldc + j), bias[i] at bias + 4*i (Go passes
  ;; zeros when there is none). C is not read when beta == 0. k >= 1.
  ;; Register tile: 4 rows x 8 columns = 8 f32x4 accumulators.
  (func (export "tile")
    (param $k i32) (param $a i32) (param $rsa i32) (param $csa i32) (param $b i32) (param $sb i32)
    (param $c i32) (param $ldc i32) (param $rows i32) (param $cols i32)
    (param $alpha f32) (param $beta f32) (param $bias i32)
    (local $i i32) (local $j i32) (local $bp i32) (local $kk i32)
    (local $ap0 i32) (local $ap1 i32) (local $ap2 i32) (local $ap3 i32)
    (local $rsa4 i32) (local $csa4 i32) (local $sb4 i32) (local $ldc4 i32) (local $cp i32)
    (local $b0 v128) (local $b1 v128) (local $av v128) (local $alphav v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $rsa4 (i32.shl (local.get $rsa) (i32.const 2)))
    (local.set $csa4 (i32.shl (local.get $csa) (i32.const 2)))
    (local.set $sb4 (i32.shl (local.get $sb) (i32.const 2)))
    (local.set $ldc4 (i32.shl (local.get $ldc) (i32.const 2)))
    (local.set $alphav (f32x4.splat (local.get $alpha)))
    (local.set $i (i32.const 0))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $j (i32.const 0))
        (block $cols_done
          (loop $cols_loop
            (br_if $cols_done (i32.ge_u (local.get $j) (local.get $cols)))
            (local.set $c00 (v128.const i32x4 0 0 0 0))
            (local.set $c01 (v128.const i32x4 0 0 0 0))
            (local.set $c10 (v128.const i32x4 0 0 0 0))
            (local.set $c11 (v128.const i32x4 0 0 0 0))
            (local.set $c20 (v128.const i32x4 0 0 0 0))
            (local.set $c21 (v128.const i32x4 0 0 0 0))
            (local.set $c30 (v128.const i32x4 0 0 0 0))
            (local.set $c31 (v128.const i32x4 0 0 0 0))
            ;; One pointer per row of A: rows i..i+3 at column p = 0.
            (local.set $ap0 (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $rsa4))))
            (local.set $ap1 (i32.add (local.get $ap0) (local.get $rsa4)))
            (local.set $ap2 (i32.add (local.get $ap1) (local.get $rsa4)))
            (local.set $ap3 (i32.add (local.get $ap2) (local.get $rsa4)))
            (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $kk (local.get $k))
            ;; The k loop: one row of the B sliver (two vectors) meets four
            ;; broadcast values of A.
            (loop $k_loop
              (local.set $b0 (v128.load (local.get $bp)))
              (local.set $b1 (v128.load offset=16 (local.get $bp)))
              (local.set $av (v128.load32_splat (local.get $ap0)))
              (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $av) (local.get $b0))))
              (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $av) (local.get $b1))))
              (local.set $av (v128.load32_splat (local.get $ap1)))
              (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $av) (local.get $b0))))
              (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $av) (local.get $b1))))
              (local.set $av (v128.load32_splat (local.get $ap2)))
              (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $av) (local.get $b0))))
              (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $av) (local.get $b1))))
              (local.set $av (v128.load32_splat (local.get $ap3)))
              (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $av) (local.get $b0))))
              (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $av) (local.get $b1))))
              (local.set $ap0 (i32.add (local.get $ap0) (local.get $csa4)))
              (local.set $ap1 (i32.add (local.get $ap1) (local.get $csa4)))
              (local.set $ap2 (i32.add (local.get $ap2) (local.get $csa4)))
              (local.set $ap3 (i32.add (local.get $ap3) (local.get $csa4)))
              (local.set $bp (i32.add (local.get $bp) (local.get $sb4)))
              (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
              (br_if $k_loop (local.get $kk)))
            (local.set $cp (i32.add (local.get $c)
              (i32.shl (i32.add (i32.mul (local.get $i) (local.get $ldc)) (local.get $j)) (i32.const 2))))
            (call $store (local.get $cp) (local.get $c00) (local.get $c01) (local.get $alphav) (local.get $beta)
              (v128.load32_splat offset=0 (i32.add (local.get $bias) (i32.shl (local.get $i) (i32.const 2)))))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldc4)))
            (call $store (local.get $cp) (local.get $c10) (local.get $c11) (local.get $alphav) (local.get $beta)
              (v128.load32_splat offset=4 (i32.add (local.get $bias) (i32.shl (local.get $i) (i32.const 2)))))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldc4)))
            (call $store (local.get $cp) (local.get $c20) (local.get $c21) (local.get $alphav) (local.get $beta)
              (v128.load32_splat offset=8 (i32.add (local.get $bias) (i32.shl (local.get $i) (i32.const 2)))))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldc4)))
            (call $store (local.get $cp) (local.get $c30) (local.get $c31) (local.get $alphav) (local.get $beta)
              (v128.load32_splat offset=12 (i32.add (local.get $bias) (i32.shl (local.get $i) (i32.const 2)))))
            (local.set $j (i32.add (local.get $j) (i32.const 8)))
            (br $cols_loop)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $rows_loop))))

  ;; store writes one 8-wide row of the tile: C = alpha*acc + beta*C + bias,
  ;; in the plain-Go kernel's order of operations; C unread when beta == 0.
  (func $store (param $cp i32) (param $x0 v128) (param $x1 v128) (param $alpha v128) (param $beta f32) (param $bias v128)
    (local $betav v128)
    (local.set $x0 (f32x4.mul (local.get $alpha) (local.get $x0)))
    (local.set $x1 (f32x4.mul (local.get $alpha) (local.get $x1)))
    (if (f32.ne (local.get $beta) (f32.const 0))
      (then
        (local.set $betav (f32x4.splat (local.get $beta)))
        (local.set $x0 (f32x4.add (local.get $x0) (f32x4.mul (local.get $betav) (v128.load (local.get $cp)))))
        (local.set $x1 (f32x4.add (local.get $x1) (f32x4.mul (local.get $betav) (v128.load offset=16 (local.get $cp)))))))
    (v128.store (local.get $cp) (f32x4.add (local.get $x0) (local.get $bias)))
    (v128.store offset=16 (local.get $cp) (f32x4.add (local.get $x1) (local.get $bias)))))
