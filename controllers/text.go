package controllers

// truncate keeps a message within what a condition may hold.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
