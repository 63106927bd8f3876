"""The Python prototype's message, `my_image` with `bytes image = 1`, built at
run time from a descriptor so that no `protoc` is needed (the prototype
imported it from a protoc-generated `temp_pb2`)."""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_file = descriptor_pb2.FileDescriptorProto(name="temp.proto", syntax="proto3")
_message = _file.message_type.add(name="my_image")
_message.field.add(
    name="image",
    number=1,
    type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
    label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
)
_pool = descriptor_pool.DescriptorPool()
_pool.Add(_file)
_descriptor = _pool.FindMessageTypeByName("my_image")

if hasattr(message_factory, "GetMessageClass"):
    MyImage = message_factory.GetMessageClass(_descriptor)
else:  # protobuf < 4.21
    MyImage = message_factory.MessageFactory(_pool).GetPrototype(_descriptor)
