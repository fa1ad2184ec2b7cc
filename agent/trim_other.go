//go:build !linux

package main

// releaseImagePages does nothing outside Linux.
func releaseImagePages() error { return nil }
