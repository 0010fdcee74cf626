//go:build unix

package failover_test

import "os"

// openWriter opens the FIFO at path for writing (releasing a blocked
// reader) and returns its closer.
func openWriter(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}
