package platform

const platformType = "MacOS"

func osNameVersion() (string, string) { return "macOS", "" }
