// Command hello prints a line and exits: the process-time baseline of
// scripts/bench (the least a Go program costs to start on this machine).
package main

import "fmt"

func main() { fmt.Println("hello, world") }
