import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Cost as _imaging_common_v1_Cost, Cost__Output as _imaging_common_v1_Cost__Output } from './imaging/common/v1/Cost';
import type { Image as _imaging_common_v1_Image, Image__Output as _imaging_common_v1_Image__Output } from './imaging/common/v1/Image';
import type { Usage as _imaging_common_v1_Usage, Usage__Output as _imaging_common_v1_Usage__Output } from './imaging/common/v1/Usage';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  imaging: {
    common: {
      v1: {
        Cost: MessageTypeDefinition<_imaging_common_v1_Cost, _imaging_common_v1_Cost__Output>
        Image: MessageTypeDefinition<_imaging_common_v1_Image, _imaging_common_v1_Image__Output>
        ImageFormat: EnumTypeDefinition
        Usage: MessageTypeDefinition<_imaging_common_v1_Usage, _imaging_common_v1_Usage__Output>
      }
    }
  }
}

