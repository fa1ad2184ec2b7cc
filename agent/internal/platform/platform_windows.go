package platform

const platformType = "Windows"

func osNameVersion() (string, string) { return "Microsoft Windows", "" }
