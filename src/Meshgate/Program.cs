using System.CommandLine;
using Meshgate.Commands;

var root = new RootCommand("Meshgate: an API gateway and lightweight service mesh on Kestrel and YARP.")
{
    GatewayCommand.Create(),
    ValidateCommand.Create(),
    DemoCommand.Create(),
    SchemaCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
