// Command manager runs the tenant-operator: the reconcilers (on the elected
// leader) and the callback server (on every replica).
package main

func main() {}
