;; ops.wat: f32x4 versions of the encoder's elementwise loops (GELU, softmax,
;; depthwise convolution) for busam's Go wasm build, which has no SIMD.
;; Compiled with wabt:
;;
;;   wat2wasm ops.wat -o ops.wasm
;;
;; Like gemm.wat it imports the Go module's linear memory and works on Go's
;; slices in place (byte addresses; float32 = 4 bytes). Every lane performs
;; the same float32 operations, in the same order, as the plain-Go code of
;; model/encoder (expf, erff, gelu, softmaxRowGo, depthwisePixels), with
;; plain mul + add (no FMA), so the results are the same bits.
(module
  (import "env" "memory" (memory 1))

  ;; expv is expf on four lanes: x = n*ln2 + r, e^x = 2^n * e^r with a
  ;; degree-7 Taylor polynomial; 0 below -87.3, +Inf above 88.7.
  (func $expv (param $x v128) (result v128)
    (local $k v128) (local $fn v128) (local $r v128) (local $p v128) (local $res v128)
    ;; k = x*log2e + 1.5*2^23 rounds x*log2e to an integer in the low bits.
    (local.set $k (f32x4.add (f32x4.mul (local.get $x) (v128.const f32x4 1.4426950408889634 1.4426950408889634 1.4426950408889634 1.4426950408889634)) (v128.const f32x4 12582912.0 12582912.0 12582912.0 12582912.0)))
    (local.set $fn (f32x4.sub (local.get $k) (v128.const f32x4 12582912.0 12582912.0 12582912.0 12582912.0)))
    (local.set $r (f32x4.sub
      (f32x4.sub (local.get $x) (f32x4.mul (local.get $fn) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
      (f32x4.mul (local.get $fn) (v128.const f32x4 -0.00021219444 -0.00021219444 -0.00021219444 -0.00021219444))))
    (local.set $p (v128.const f32x4 0.0001984126984126984 0.0001984126984126984 0.0001984126984126984 0.0001984126984126984))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.001388888888888889 0.001388888888888889 0.001388888888888889 0.001388888888888889)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.008333333333333333 0.008333333333333333 0.008333333333333333 0.008333333333333333)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.041666666666666664 0.041666666666666664 0.041666666666666664 0.041666666666666664)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.16666666666666666 0.16666666666666666 0.16666666666666666 0.16666666666666666)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.0 1.0 1.0 1.0)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.0 1.0 1.0 1.0)))
    ;; 2^n: n = bits(k) - bits(1.5*2^23), placed in the exponent field.
    (local.set $res (f32x4.mul (local.get $p)
      (i32x4.shl
        (i32x4.add (i32x4.sub (local.get $k) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000))
                   (v128.const i32x4 127 127 127 127))
        (i32.const 23))))
    (local.set $res (v128.bitselect (v128.const i32x4 0 0 0 0) (local.get $res)
      (f32x4.lt (local.get $x) (v128.const f32x4 -87.3 -87.3 -87.3 -87.3))))
    (v128.bitselect (v128.const f32x4 inf inf inf inf) (local.get $res)
      (f32x4.gt (local.get $x) (v128.const f32x4 88.7 88.7 88.7 88.7))))

  ;; erfv is erff on four lanes (Abramowitz and Stegun 7.1.26).
  (func $erfv (param $x v128) (result v128)
    (local $ax v128) (local $t v128) (local $p v128) (local $y v128)
    (local.set $ax (f32x4.min
      (v128.and (local.get $x) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
      (v128.const f32x4 6.0 6.0 6.0 6.0)))
    (local.set $t (f32x4.div (v128.const f32x4 1.0 1.0 1.0 1.0) (f32x4.add (v128.const f32x4 1.0 1.0 1.0 1.0) (f32x4.mul (v128.const f32x4 0.3275911 0.3275911 0.3275911 0.3275911) (local.get $ax)))))
    (local.set $p (v128.const f32x4 1.061405429 1.061405429 1.061405429 1.061405429))
    (local.set $p (f32x4.sub (f32x4.mul (local.get $p) (local.get $t)) (v128.const f32x4 1.453152027 1.453152027 1.453152027 1.453152027)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (v128.const f32x4 1.421413741 1.421413741 1.421413741 1.421413741)))
    (local.set $p (f32x4.sub (f32x4.mul (local.get $p) (local.get $t)) (v128.const f32x4 0.284496736 0.284496736 0.284496736 0.284496736)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (v128.const f32x4 0.254829592 0.254829592 0.254829592 0.254829592)))
    (local.set $y (f32x4.sub (v128.const f32x4 1.0 1.0 1.0 1.0)
      (f32x4.mul (f32x4.mul (local.get $p) (local.get $t))
                 (call $expv (f32x4.mul (f32x4.neg (local.get $ax)) (local.get $ax))))))
    (v128.or (local.get $y)
      (v128.and (local.get $x) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))

  ;; geluv is the exact (erf) GELU: 0.5*x * (1 + erf(x/sqrt 2)).
  (func $geluv (param $x v128) (result v128)
    (f32x4.mul (f32x4.mul (v128.const f32x4 0.5 0.5 0.5 0.5) (local.get $x))
      (f32x4.add (v128.const f32x4 1.0 1.0 1.0 1.0) (call $erfv (f32x4.mul (local.get $x) (v128.const f32x4 0.7071067811865476 0.7071067811865476 0.7071067811865476 0.7071067811865476))))))

  ;; gelu sets x[i] = gelu(x[i] + bias[i]) for i < n (bias unread when
  ;; hasBias is 0).
  (func (export "gelu") (param $x i32) (param $bias i32) (param $n i32) (param $hasBias i32)
    (local $end i32) (local $vend i32) (local $v v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vend (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vdone
      (loop $vloop
        (br_if $vdone (i32.ge_u (local.get $x) (local.get $vend)))
        (local.set $v (v128.load (local.get $x)))
        (if (local.get $hasBias)
          (then (local.set $v (f32x4.add (local.get $v) (v128.load (local.get $bias))))))
        (v128.store (local.get $x) (call $geluv (local.get $v)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $bias (i32.add (local.get $bias) (i32.const 16)))
        (br $vloop)))
    (block $sdone
      (loop $sloop
        (br_if $sdone (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v (f32x4.splat (f32.load (local.get $x))))
        (if (local.get $hasBias)
          (then (local.set $v (f32x4.add (local.get $v) (f32x4.splat (f32.load (local.get $bias)))))))
        (f32.store (local.get $x) (f32x4.extract_lane 0 (call $geluv (local.get $v))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $bias (i32.add (local.get $bias) (i32.const 4)))
        (br $sloop))))

  ;; softmax replaces row[0:n] (n >= 1) by its softmax, shifted by the row
  ;; maximum; the sum runs element by element, as in Go.
  (func (export "softmax") (param $row i32) (param $n i32)
    (local $p i32) (local $end i32) (local $vend i32) (local $mv v128) (local $m f32)
    (local $e v128) (local $sum f32) (local $inv v128)
    (local.set $end (i32.add (local.get $row) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vend (i32.add (local.get $row) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    ;; the maximum
    (local.set $mv (v128.const f32x4 -inf -inf -inf -inf))
    (local.set $p (local.get $row))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $p) (local.get $vend)))
      (local.set $mv (f32x4.max (local.get $mv) (v128.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l1)))
    (local.set $m (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $mv)) (f32x4.extract_lane 1 (local.get $mv)))
      (f32.max (f32x4.extract_lane 2 (local.get $mv)) (f32x4.extract_lane 3 (local.get $mv)))))
    (block $d2 (loop $l2
      (br_if $d2 (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $m (f32.max (local.get $m) (f32.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $l2)))
    (local.set $mv (f32x4.splat (local.get $m)))
    ;; e = exp(v - m), stored, summed in order
    (local.set $sum (f32.const 0))
    (local.set $p (local.get $row))
    (block $d3 (loop $l3
      (br_if $d3 (i32.ge_u (local.get $p) (local.get $vend)))
      (local.set $e (call $expv (f32x4.sub (v128.load (local.get $p)) (local.get $mv))))
      (v128.store (local.get $p) (local.get $e))
      (local.set $sum (f32.add (local.get $sum) (f32x4.extract_lane 0 (local.get $e))))
      (local.set $sum (f32.add (local.get $sum) (f32x4.extract_lane 1 (local.get $e))))
      (local.set $sum (f32.add (local.get $sum) (f32x4.extract_lane 2 (local.get $e))))
      (local.set $sum (f32.add (local.get $sum) (f32x4.extract_lane 3 (local.get $e))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l3)))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $e (call $expv (f32x4.sub (f32x4.splat (f32.load (local.get $p))) (local.get $mv))))
      (f32.store (local.get $p) (f32x4.extract_lane 0 (local.get $e)))
      (local.set $sum (f32.add (local.get $sum) (f32x4.extract_lane 0 (local.get $e))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $l4)))
    ;; scale by 1/sum
    (local.set $inv (f32x4.splat (f32.div (f32.const 1) (local.get $sum))))
    (local.set $p (local.get $row))
    (block $d5 (loop $l5
      (br_if $d5 (i32.ge_u (local.get $p) (local.get $vend)))
      (v128.store (local.get $p) (f32x4.mul (v128.load (local.get $p)) (local.get $inv)))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l5)))
    (block $d6 (loop $l6
      (br_if $d6 (i32.ge_u (local.get $p) (local.get $end)))
      (f32.store (local.get $p) (f32.mul (f32.load (local.get $p)) (f32x4.extract_lane 0 (local.get $inv))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $l6))))

  ;; depthwise computes output pixels [ox0, ox1) of output row oy of a
  ;; k x k depthwise convolution (zero padding k/2) over an HWC map src of
  ;; h x wd x c (c a multiple of 4) into the row dst (pixel ox at
  ;; dst + 4*ox*c): bias, plus each tap inside the image in (ky, kx) order,
  ;; then GELU when gelu is 1. w is [k*k, c].
  (func (export "depthwise")
    (param $dst i32) (param $src i32) (param $h i32) (param $wd i32) (param $c i32)
    (param $k i32) (param $stride i32) (param $oy i32) (param $ox0 i32) (param $ox1 i32)
    (param $w i32) (param $bias i32) (param $gelu i32)
    (local $pad i32) (local $ox i32) (local $ky i32) (local $kx i32) (local $iy i32) (local $ix i32)
    (local $c4 i32) (local $out i32) (local $in i32) (local $wk i32) (local $j i32)
    (local.set $pad (i32.shr_u (local.get $k) (i32.const 1)))
    (local.set $c4 (i32.shl (local.get $c) (i32.const 2)))
    (local.set $ox (local.get $ox0))
    (block $oxd (loop $oxl
      (br_if $oxd (i32.ge_s (local.get $ox) (local.get $ox1)))
      (local.set $out (i32.add (local.get $dst) (i32.mul (local.get $ox) (local.get $c4))))
      ;; out = bias
      (local.set $j (i32.const 0))
      (block $bd (loop $bl
        (br_if $bd (i32.ge_u (local.get $j) (local.get $c4)))
        (v128.store (i32.add (local.get $out) (local.get $j)) (v128.load (i32.add (local.get $bias) (local.get $j))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $bl)))
      (local.set $ky (i32.const 0))
      (block $kyd (loop $kyl
        (br_if $kyd (i32.ge_s (local.get $ky) (local.get $k)))
        (local.set $iy (i32.add (i32.sub (i32.mul (local.get $oy) (local.get $stride)) (local.get $pad)) (local.get $ky)))
        (if (i32.and (i32.ge_s (local.get $iy) (i32.const 0)) (i32.lt_s (local.get $iy) (local.get $h)))
          (then
            (local.set $kx (i32.const 0))
            (block $kxd (loop $kxl
              (br_if $kxd (i32.ge_s (local.get $kx) (local.get $k)))
              (local.set $ix (i32.add (i32.sub (i32.mul (local.get $ox) (local.get $stride)) (local.get $pad)) (local.get $kx)))
              (if (i32.and (i32.ge_s (local.get $ix) (i32.const 0)) (i32.lt_s (local.get $ix) (local.get $wd)))
                (then
                  (local.set $in (i32.add (local.get $src)
                    (i32.mul (i32.add (i32.mul (local.get $iy) (local.get $wd)) (local.get $ix)) (local.get $c4))))
                  (local.set $wk (i32.add (local.get $w)
                    (i32.mul (i32.add (i32.mul (local.get $ky) (local.get $k)) (local.get $kx)) (local.get $c4))))
                  (local.set $j (i32.const 0))
                  (block $jd (loop $jl
                    (br_if $jd (i32.ge_u (local.get $j) (local.get $c4)))
                    (v128.store (i32.add (local.get $out) (local.get $j))
                      (f32x4.add (v128.load (i32.add (local.get $out) (local.get $j)))
                        (f32x4.mul (v128.load (i32.add (local.get $in) (local.get $j)))
                                   (v128.load (i32.add (local.get $wk) (local.get $j))))))
                    (local.set $j (i32.add (local.get $j) (i32.const 16)))
                    (br $jl)))))
              (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
              (br $kxl)))))
        (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
        (br $kyl)))
      (if (local.get $gelu)
        (then
          (local.set $j (i32.const 0))
          (block $gd (loop $gl
            (br_if $gd (i32.ge_u (local.get $j) (local.get $c4)))
            (v128.store (i32.add (local.get $out) (local.get $j))
              (call $geluv (v128.load (i32.add (local.get $out) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $gl)))))
      (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
      (br $oxl))))
)
