package view

import "testing"

// BenchmarkCompose redraws a BUSI-sized image (562x471) with every
// overlay on, as moving the opacity slider does.
func BenchmarkCompose(b *testing.B)           { benchCompose(b, false) }
func BenchmarkComposeCachedHeat(b *testing.B) { benchCompose(b, true) }

func benchCompose(b *testing.B, cached bool) {
	const w, h = 562, 471
	base := grey(w, h, 90)
	mask := square(w, h, 200, 150, 330, 260)
	truth := square(w, h, 210, 140, 340, 250)
	att := make([]float32, 64*64)
	for i := range att {
		att[i] = float32(i%61 - 30)
	}
	dst := make([]byte, len(base.Pix))
	l := Layers{Mask: mask, Truth: truth, ShowFill: true, ShowContour: true, ShowOverlap: true, Opacity: 0.4,
		Evidence: att, EvW: 64, EvH: 64, ShowEvidence: true}
	b.SetBytes(int64(len(dst)))
	if cached {
		l.Heat = EvidenceAtImage(att, 64, 64, w, h)
	}
	for b.Loop() {
		if err := Compose(dst, base, l); err != nil {
			b.Fatal(err)
		}
	}
}
