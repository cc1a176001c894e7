// Package split divides a dataset into train, validation and test parts
// (or k folds) without leaking near-duplicate images across them.
package split
