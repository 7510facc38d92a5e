import { create } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import {
  Images,
  CreateImageResponseSchema,
  GetImageResponseSchema,
  ListImagesResponseSchema,
  UpdateImageResponseSchema,
} from '@flotilla/proto/containerd/services/images/v1/images_pb';
import { ImageCreateSchema, ImageDeleteSchema, ImageUpdateSchema } from '@flotilla/proto/containerd/events/image_pb';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { rejectSchema1MediaType } from '@flotilla/config';
import { definitionOf, requireNamespace, type Implementation, type RpcServer } from '@flotilla/rpc';
import type { GrpcService } from '@flotilla/plugin';
import type { ImageStore } from '../metadata/images.js';
import type { Exchange } from '../events/exchange.js';
import type { GarbageCollector } from '../gc/collector.js';
import { imageFromProto, imageToProto } from '../convert.js';

/**
 * containerd.services.images.v1 over the metadata store, as containerd's images service: every change is
 * published (`/images/create`, `/images/update`, `/images/delete`), and a deletion asks for garbage
 * collection, which a `sync` deletion waits for. An image whose target is a Docker schema 1 manifest is
 * refused (NotImplemented, as containerd 2.0 refuses pulling one): nothing here can read it any more, and
 * a record of it would only fail later. Records already stored are still listed and deleted.
 */
export function imagesService(store: ImageStore, events: Exchange, gc: GarbageCollector): GrpcService {
  /** containerd checks the name before the namespace (which only its store requires). */
  const named = <T extends { name: string }>(image: T | undefined): T => {
    if (image === undefined || image.name === '') throw new InvalidArgumentError('Image.Name required');
    return image;
  };
  const impl: Implementation<typeof Images> = {
    async get(req, ctx) {
      const image = store.get(requireNamespace(ctx.metadata), req.name);
      return create(GetImageResponseSchema, { image: imageToProto(image) });
    },
    async list(req, ctx) {
      const images = store.list(requireNamespace(ctx.metadata), req.filters);
      return create(ListImagesResponseSchema, { images: images.map(imageToProto) });
    },
    async create(req, ctx) {
      const image = named(req.image);
      const ns = requireNamespace(ctx.metadata);
      rejectSchema1MediaType(image.target?.mediaType ?? '');
      const created = store.create(ns, imageFromProto(image),
        req.sourceDateEpoch ? { createdAt: timestampDate(req.sourceDateEpoch) } : {});
      events.publish(ns, '/images/create', ImageCreateSchema, { name: created.name, labels: { ...created.labels } });
      return create(CreateImageResponseSchema, { image: imageToProto(created) });
    },
    async update(req, ctx) {
      const image = named(req.image);
      const ns = requireNamespace(ctx.metadata);
      const paths = req.updateMask?.paths ?? [];
      if (paths.length === 0 || paths.includes('target')) rejectSchema1MediaType(image.target?.mediaType ?? '');
      const updated = store.update(ns, imageFromProto(image), paths,
        req.sourceDateEpoch ? { updatedAt: timestampDate(req.sourceDateEpoch) } : {});
      events.publish(ns, '/images/update', ImageUpdateSchema, { name: updated.name, labels: { ...updated.labels } });
      return create(UpdateImageResponseSchema, { image: imageToProto(updated) });
    },
    async delete(req, ctx) {
      const ns = requireNamespace(ctx.metadata);
      store.delete(ns, req.name, req.target ? { target: { digest: req.target.digest } } : {});
      events.publish(ns, '/images/delete', ImageDeleteSchema, { name: req.name });
      // containerd marks its metadata dirty on a deletion, which has its collector run soon; `sync`
      // waits for a collection to finish before answering.
      if (req.sync) await gc.collect();
      else gc.schedule();
      return {};
    },
  };
  return { name: Images.typeName, register: (server: RpcServer) => server.add(definitionOf(Images), impl) };
}
