return await Meshgate.Cli.RunAsync(args, Console.Out, Console.Error);
