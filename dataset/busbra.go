package dataset

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// BUS-BRA (Gómez-Flores et al., Med. Phys. 2024) is distributed as
//
//	Images/bus_NNNN-S.png   Masks/mask_NNNN-S.png   bus_data.csv
//
// where bus_data.csv has one row per image: ID, Case (patient), Histology,
// Pathology (benign/malignant), BIRADS, Device, Width, Height, Side, BBOX.

// BUSBRAIndex is the name of BUS-BRA's per-image table; a folder holding it
// is read as BUS-BRA.
const BUSBRAIndex = "bus_data.csv"

// busbraColumns are the columns the importer reads; others are ignored.
var busbraColumns = []string{"ID", "Case", "Pathology", "BIRADS", "Device", "Width", "Height"}

// Source names of the datasets the importers recognise.
const (
	SourceBUSI   = "BUSI"
	SourceBUSBRA = "BUS-BRA"
)

// isBUSBRA reports whether dir is laid out as BUS-BRA.
func isBUSBRA(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, BUSBRAIndex))
	return err == nil && !st.IsDir()
}

// scanBUSBRA indexes a BUS-BRA folder from its bus_data.csv. Every row must
// name an existing image and mask and a known pathology; a row's Width and
// Height must match the image (checked in validate via the header sizes).
// Images or masks on disk that no row lists are excluded with that reason.
// Patients (Case) become groups, so a split keeps a patient's views together.
func scanBUSBRA(root string) (*Dataset, problems) {
	index := filepath.Join(root, BUSBRAIndex)
	ds := &Dataset{Root: root}
	listed := map[string]bool{}
	var probs problems // of the rows; readTable's come first
	tableProbs := readTable(index, "table", busbraColumns, busbraColumns, func(where string, field func(string) string) {
		id := field("ID")
		num, ok := strings.CutPrefix(id, "bus_")
		if !ok || num == "" || strings.ContainsAny(id, `/\`) {
			probs.add("%s: ID %q is not of the form bus_NNNN-S", where, id)
			return
		}
		label, err := ParseLabel(field("Pathology"))
		if err != nil {
			probs.add("%s: %s: pathology: %v", where, id, err)
			return
		}
		if label == Normal {
			probs.add("%s: %s: pathology %q, but every BUS-BRA image shows a lesion (benign or malignant)", where, id, field("Pathology"))
			return
		}
		caseID := field("Case")
		if caseID == "" {
			probs.add("%s: %s: empty Case (patient) column", where, id)
			return
		}
		w, errW := strconv.Atoi(field("Width"))
		h, errH := strconv.Atoi(field("Height"))
		if errW != nil || errH != nil || w <= 0 || h <= 0 {
			probs.add("%s: %s: Width %q / Height %q are not positive integers", where, id, field("Width"), field("Height"))
			return
		}
		if listed[id] {
			probs.add("%s: %s listed twice", where, id)
			return
		}
		listed[id] = true
		s := Sample{
			ID:     "Images/" + id,
			Image:  filepath.Join(root, "Images", id+".png"),
			Masks:  []string{filepath.Join(root, "Masks", "mask_"+num+".png")},
			Label:  label,
			Group:  "patient " + caseID,
			Source: SourceBUSBRA,
			Device: field("Device"),
			BIRADS: field("BIRADS"),
			wantW:  w, wantH: h,
		}
		for _, p := range append([]string{s.Image}, s.Masks...) {
			if _, err := os.Stat(p); err != nil {
				probs.add("%s: %s: %v", where, id, err)
			}
		}
		ds.Samples = append(ds.Samples, s)
	})
	probs = append(tableProbs, probs...)
	if len(tableProbs) > 0 && len(ds.Samples) == 0 {
		return nil, probs
	}
	// Anything on disk the table does not list is reported, not dropped silently.
	for _, dir := range []struct{ sub, prefix string }{{"Images", "bus_"}, {"Masks", "mask_"}} {
		entries, err := os.ReadDir(filepath.Join(root, dir.sub))
		if err != nil {
			probs.add("%v", err)
			continue
		}
		for _, e := range entries {
			base := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
			num, ok := strings.CutPrefix(base, dir.prefix)
			if !ok || e.IsDir() || !listed["bus_"+num] {
				ds.Excluded = append(ds.Excluded, Exclusion{filepath.Join(root, dir.sub, e.Name()), "not listed in " + BUSBRAIndex})
			}
		}
	}
	sort.Slice(ds.Excluded, func(i, j int) bool { return ds.Excluded[i].Path < ds.Excluded[j].Path })
	if len(ds.Samples) == 0 && len(probs) == 0 {
		probs.add("%s: lists no images", index)
	}
	return ds, probs
}
