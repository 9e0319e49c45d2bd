package redisserver

// LookTool is lookTool, for the tests.
var LookTool = lookTool
