using System.CommandLine;
using System.Security.Cryptography;
using System.Text;

namespace Meshgate.Commands;

internal static class HashKeyCommand
{
    public static Command Create()
    {
        var key = new Option<string?>("--key") { Description = "The API key. Without it the key is read from stdin (first line), which keeps it out of shell history." };
        var command = new Command("hash-key", "Print the SHA-256 hex hash of an API key, for authentication.<name>.apiKeys.consumers.<consumer>.keys or a keysFile.") { key };
        command.SetAction(parse =>
        {
            var value = parse.GetValue(key) ?? Console.In.ReadLine();
            if (string.IsNullOrEmpty(value))
            {
                parse.InvocationConfiguration.Error.WriteLine("no key: pass --key KEY or write the key to stdin");
                return 2;
            }
            parse.InvocationConfiguration.Output.WriteLine(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value.TrimEnd('\r', '\n')))));
            return 0;
        });
        return command;
    }
}
