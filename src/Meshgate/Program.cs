// The gateway role runs as an event loop per core (MeshgateWebApplication.PreferInlineSockets), decided here because
// the runtime reads its switch once, when the first socket is made, and nothing has made one yet.
if (args is ["gateway", ..]) Meshgate.Proxy.Hosting.MeshgateWebApplication.PreferInlineSockets();
return await Meshgate.Cli.RunAsync(args, Console.Out, Console.Error);
