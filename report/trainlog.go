package report

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// Epoch is one entry of train_log.json, the file `busam train` writes next
// to the weights. Values absent or null in the file are NaN.
type Epoch struct {
	Epoch     int
	TrainLoss float64
	ValLoss   float64
	ValDice   float64
	ValAcc    float64
	ValBalAcc float64 // optional in the file
	LR        float64
	Seconds   float64
}

// ReadTrainLog parses a train_log.json: a JSON array of
// {"epoch","train_loss","val_loss","val_dice","val_acc","lr","seconds"},
// optionally with "val_bal_acc"; other keys are ignored.
func ReadTrainLog(path string) ([]Epoch, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("report: training log: %w", err)
	}
	var raw []struct {
		Epoch     *int     `json:"epoch"`
		TrainLoss *float64 `json:"train_loss"`
		ValLoss   *float64 `json:"val_loss"`
		ValDice   *float64 `json:"val_dice"`
		ValAcc    *float64 `json:"val_acc"`
		ValBalAcc *float64 `json:"val_bal_acc"`
		LR        *float64 `json:"lr"`
		Seconds   *float64 `json:"seconds"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("report: training log %s: %w", path, err)
	}
	or := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	out := make([]Epoch, len(raw))
	for i, r := range raw {
		if r.Epoch == nil {
			return nil, fmt.Errorf("report: training log %s: entry %d has no \"epoch\"", path, i)
		}
		out[i] = Epoch{Epoch: *r.Epoch, TrainLoss: or(r.TrainLoss), ValLoss: or(r.ValLoss),
			ValDice: or(r.ValDice), ValAcc: or(r.ValAcc), ValBalAcc: or(r.ValBalAcc), LR: or(r.LR), Seconds: or(r.Seconds)}
	}
	return out, nil
}
